"""Child processes: start them so they die with the bench, stop them, sample their peak RSS."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

_PR_SET_PDEATHSIG = 1
STOP_GRACE_S = 10.0
RSS_SAMPLE_S = 0.05


def _load_prctl() -> Callable[..., int] | None:
    # Resolved once in the parent: the child, between fork and exec, only makes the call.
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


_PRCTL = _load_prctl()


def _die_with_parent() -> None:
    # If the bench is killed (even with -9), the kernel sends SIGTERM to every child, so
    # no server is left listening behind it.
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


def preexec() -> Callable[[], None] | None:
    """A preexec_fn tying a child's life to ours (Linux only; None elsewhere)."""
    return _die_with_parent if _PRCTL is not None else None


async def spawn(
    args: list[str],
    *,
    env: dict[str, str],
    cwd: Path | None = None,
    stdout: int | IO[Any] | None = None,
    stderr: int | IO[Any] | None = None,
    stdin: int | None = None,
) -> asyncio.subprocess.Process:
    """Start ``args`` as a child that dies with the bench."""
    return await asyncio.create_subprocess_exec(
        *args,
        env=env,
        cwd=cwd,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        preexec_fn=preexec(),
    )


async def stop(process: asyncio.subprocess.Process, sig: int = signal.SIGTERM) -> None:
    """Signal ``process``, wait for it, kill it if it does not go within a grace period."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        try:
            await asyncio.wait_for(process.wait(), STOP_GRACE_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


def peak_rss_kib(pid: int) -> int | None:
    """The process's peak resident set size (VmHWM) in KiB, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text("ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


class RssSampler:
    """Samples a child's VmHWM until it exits; ``peak_kib`` is the last (largest) value seen.

    VmHWM is the kernel's own high-water mark, so sampling only risks missing growth in the
    last interval before exit, never a short spike in between.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kib: int | None = None
        self._task = asyncio.create_task(self._run(), name=f"rss-{pid}")

    async def _run(self) -> None:
        while True:
            value = peak_rss_kib(self.pid)
            if value is None:
                return
            self.peak_kib = max(value, self.peak_kib or 0)
            await asyncio.sleep(RSS_SAMPLE_S)

    async def close(self) -> int | None:
        """Stop sampling; the peak seen."""
        # One last look: the process may still be a zombie-to-be with its status readable.
        value = peak_rss_kib(self.pid)
        if value is not None:
            self.peak_kib = max(value, self.peak_kib or 0)
        self._task.cancel()
        # asyncio.wait, not `suppress(CancelledError)`: a Ctrl-C arriving right now must
        # cancel the caller, not be swallowed with the sampler's own cancellation.
        await asyncio.wait([self._task])
        return self.peak_kib
