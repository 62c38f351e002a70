"""Top-level functions a media pool's worker can run in tests: answer, fail, hang, die."""

from __future__ import annotations

import os
import resource
import signal
import time
from pathlib import Path

from orchestrator.media.convert import convert
from orchestrator.media.errors import MediaError
from orchestrator.media.target import Target


def double(value: int) -> int:
    """Twice ``value``."""
    return value * 2


def refuse(path: str) -> None:
    """Raise the media layer's own error."""
    raise MediaError(path, "is not audio")


def stumble() -> None:
    """Raise something other than MediaError."""
    raise KeyError("no such thing")


def hang() -> None:
    """Never return (until the worker is killed)."""
    while True:
        time.sleep(1)


def exit_at_once() -> None:
    """End the worker process without a word, as a crashed decoder would."""
    os._exit(3)


def segfault() -> None:
    """Die of SIGSEGV."""
    os.kill(os.getpid(), signal.SIGSEGV)


def wait_for(flag: Path, answer: str) -> str:
    """Say it started (``flag`` + ".started"), wait until ``flag`` exists, then return
    ``answer`` (a call kept running on purpose)."""
    flag.with_name(flag.name + ".started").touch()
    while not flag.exists():
        time.sleep(0.01)
    return answer


def niceness() -> int:
    """This process's niceness (its CPU priority: higher yields to lower)."""
    return os.nice(0)


def pid() -> int:
    """The worker's process id."""
    return os.getpid()


def convert_and_peak(src: Path, dst: Path, target: Target) -> int:
    """Convert, then the worker's peak resident set in KiB (a fresh worker: its own peak)."""
    convert(src, dst, target)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
