"""The loop a media worker process runs: one call at a time, answers down its pipe."""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
from multiprocessing.connection import Connection
from typing import Any

from orchestrator.media.errors import MediaError

# How much lower a worker's CPU priority is than the daemon's: conversions fill every core
# they are given, and the event loop (the status endpoint, the quotas' timing) must still
# run the moment it has work, not after a conversion's time slice.
NICENESS = 10
# Imported once per worker at its start, not at each call: FFmpeg's libraries and our
# modules. Here, not at the top: the daemon imports this module for ``serve`` and must not
# load FFmpeg (tens of MiB, a fifth of a second) while its audio all goes as it is.
PRELOAD = (
    "av",
    "orchestrator.media.convert",
    "orchestrator.media.probe",
    "orchestrator.media.quiet",
)


def serve(conn: Connection) -> None:
    """Answer calls ``(fn, args, path)`` until ``None`` or the pipe closes."""
    with contextlib.suppress(OSError):  # a platform without priorities converts as it is
        os.nice(NICENESS)
    for name in PRELOAD:
        importlib.import_module(name)
    # Ctrl-C in a terminal and systemd's stop reach the whole process group: the daemon
    # stops its pool itself, and a worker killed by them would fail the job it converts.
    # A worker whose daemon is gone ends at the closed pipe, after its call.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if request is None:
            return
        conn.send(answer(*request))


def answer(fn: Any, args: tuple[Any, ...], path: str) -> tuple[str, Any]:
    """("ok", value) or ("error", MediaError): anything else ``fn`` raises becomes one."""
    try:
        return "ok", fn(*args)
    except MediaError as exc:
        return "error", exc
    except Exception as exc:
        return "error", MediaError(path, f"conversion failed ({type(exc).__name__})")
