"""Child processes: start them so they die with the bench, stop them, measure a contender.

A contender's CPU time is the kernel's answer when it is reaped (``wait4``): its own and
that of the process tree it waited for. Its peak resident set is its VmHWM, sampled.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bench.cpu import CpuTimes

_PR_SET_PDEATHSIG = 1
STOP_GRACE_S = 10.0
RSS_SAMPLE_S = 0.05
# systemd's hold on this process: a child must not take it for its own.
_SYSTEMD_VARS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


# The checkout this bench runs from (bench/ is not installed: children import it from here).
REPO = Path(__file__).resolve().parents[1]


def child_env(root: Path) -> dict[str, str]:
    """This process's environment for a child that imports ``bench`` (not installed) and
    ``orchestrator`` from the checkout at ``root``: unbuffered, and never talking to a
    systemd that supervises the bench."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    for name in _SYSTEMD_VARS:
        env.pop(name, None)
    return env


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


@dataclass(frozen=True)
class Measured:
    """How a measured child ran, from the kernel's accounting when it was reaped."""

    exit_code: int
    wall_s: float
    timed_out: bool
    cpu: CpuTimes  # user + system of the child and every descendant it waited for
    # VmHWM, sampled. Not wait4's ru_maxrss: Linux folds into it the resident set the
    # child had before exec, i.e. the bench's own, copied by fork.
    peak_rss_kib: int | None


Reaped = tuple[int, int, resource.struct_rusage]


def _reap_in_thread(pid: int) -> asyncio.Future[Reaped]:
    """``os.wait4(pid)`` in a thread of its own, as a future of this loop.

    Not ``asyncio.to_thread``: the default executor has a handful of workers, and several
    children waited for at once must not starve the bench's other thread work.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Reaped] = loop.create_future()

    def settle(result: Reaped | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            assert result is not None
            future.set_result(result)

    def work() -> None:
        try:
            result = os.wait4(pid, 0)
        except BaseException as exc:  # handed to the loop, never lost in the thread
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=work, name=f"reap-{pid}", daemon=True).start()
    return future


def _popen(args: list[str], env: dict[str, str], out: IO[bytes]) -> subprocess.Popen[bytes]:
    # A plain Popen, not asyncio's: asyncio's child watcher would reap the child itself and
    # its resource usage would be lost. Forking takes milliseconds; the loop can wait.
    return subprocess.Popen(
        args,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        # The child only calls prctl between fork and exec (see _die_with_parent), the same
        # as every asyncio child of the bench.
        preexec_fn=preexec(),  # noqa: PLW1509
    )


async def _end(process: subprocess.Popen[bytes], reaped: asyncio.Future[Reaped]) -> None:
    """SIGTERM, a grace period, then SIGKILL; returns once the child is reaped."""
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    await asyncio.wait({reaped}, timeout=STOP_GRACE_S)
    if not reaped.done():
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await asyncio.wait({reaped})


async def run_measured(
    args: list[str], *, env: dict[str, str], log: Path, limit_s: float
) -> Measured:
    """Run ``args`` to its end (stopped after ``limit_s``), output to ``log``, measured.

    The child is reaped with ``wait4``, whose answer is that child's own resource usage:
    exact even when several contenders run at once, which the bench's RUSAGE_CHILDREN
    (the sum over every child) would not be.
    """
    with log.open("wb") as out:
        began = time.monotonic()
        process = _popen(args, env, out)
    sampler = RssSampler(process.pid)
    reaped = _reap_in_thread(process.pid)
    timed_out = False
    try:
        await asyncio.wait_for(asyncio.shield(reaped), limit_s)
    except TimeoutError:
        timed_out = True
    finally:
        # Also on cancellation (Ctrl-C, SIGTERM): the child never outlives the bench's run.
        if not reaped.done():
            await _end(process, reaped)
        # Once the child has exited /proc forgets its memory: the sampler's last reading
        # (at most RSS_SAMPLE_S old) is the peak.
        peak = await sampler.close()
    _, status, usage = reaped.result()
    # Popen did not reap it; tell it, so it does not try to (or warn that it is running).
    process.returncode = os.waitstatus_to_exitcode(status)
    return Measured(
        exit_code=process.returncode,
        wall_s=time.monotonic() - began,
        timed_out=timed_out,
        cpu=CpuTimes.of(usage),
        peak_rss_kib=peak,
    )
