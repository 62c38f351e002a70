"""Worker processes for FFmpeg's work, so a conversion neither blocks the event loop nor,
when it crashes or hangs, takes the daemon with it."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar, cast

from orchestrator.media.errors import MediaCrash, MediaError, MediaTimeout
from orchestrator.media.worker import serve

T = TypeVar("T")

# A conversion's bound: a base for opening, probing and a slow disk, plus the audio at no
# less than this many times real time (FFmpeg converts speech at hundreds of times).
BOUND_BASE_S = 30.0
BOUND_SPEED = 5.0
# How long a stopping worker may take to exit before it is killed.
STOP_GRACE_S = 2.0


def time_bound(duration_s: float) -> float:
    """The time allowed for converting ``duration_s`` seconds of audio."""
    return BOUND_BASE_S + max(duration_s, 0.0) / BOUND_SPEED


class _Worker:
    """One process and our end of its pipe."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        self.conn: Connection = ours
        self.process: BaseProcess = context.Process(
            target=serve, args=(theirs,), name="speechkit-media", daemon=True
        )
        self.process.start()
        theirs.close()

    def call(self, request: tuple[Any, ...], timeout_s: float) -> tuple[str, Any]:
        """Send one call and wait for its answer: ("ok", value), ("error", MediaError),
        ("timeout", None) or ("crash", exit code)."""
        try:
            self.conn.send(request)
        except (OSError, EOFError):
            return "crash", self.process.exitcode
        ready = wait([self.conn, self.process.sentinel], timeout_s)
        if self.conn in ready:
            try:
                return cast("tuple[str, Any]", self.conn.recv())
            except (OSError, EOFError):
                pass
        if not ready:
            return "timeout", None
        self.process.join(STOP_GRACE_S)
        return "crash", self.process.exitcode

    def stop(self, *, kill: bool) -> None:
        """End the process (asked, then killed after a grace, or killed at once) and reap it."""
        if not kill and self.process.is_alive():
            with contextlib.suppress(OSError, EOFError):
                self.conn.send(None)
            self.process.join(STOP_GRACE_S)
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.conn.close()


class MediaPool:
    """Worker processes (spawn context, persistent, imported once) that run one call each at
    a time; a call that outlives its bound has its worker killed and replaced, as does a
    worker that dies; every other call goes on."""

    # Each call waits on its worker's pipe and death in a thread of its own (one per worker):
    # multiprocessing's wait() watches the answer, the process's end and the bound in one
    # blocking call, with none of the partial reads a reader callback on the pipe would need,
    # and the event loop only awaits a future.

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("a media pool needs at least one worker")
        self._size = workers
        self._threads = ThreadPoolExecutor(workers, thread_name_prefix="media-pool")
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._free: asyncio.Semaphore | None = None  # made in the loop that runs the calls
        self._closed = False

    async def run(self, fn: Callable[..., T], *args: Any, timeout_s: float, path: str) -> T:
        """``fn(*args)`` in a free worker (waiting for one when all are busy); MediaError as
        ``fn`` raised it, MediaTimeout past ``timeout_s``, MediaCrash when the worker died."""
        if self._free is None:
            self._free = asyncio.Semaphore(self._size)
        async with self._free:
            worker = await self._take(path)
            loop = asyncio.get_running_loop()
            try:
                outcome, value = await loop.run_in_executor(
                    self._threads, worker.call, (fn, args, path), timeout_s
                )
            except BaseException:
                # Cancelled mid-call: the worker may still be at it, so it goes.
                self._drop(worker)
                raise
            if outcome not in ("ok", "error") or self._closed:
                self._drop(worker)
            else:
                self._busy.discard(worker)
                self._idle.append(worker)
        return cast("T", _result(outcome, value, path, timeout_s))

    async def _take(self, path: str) -> _Worker:
        if self._closed:
            raise MediaError(path, "not converted: the media pool is closed")
        while self._idle and not self._idle[-1].process.is_alive():
            self._drop(self._idle.pop())  # died while idle: this call gets a fresh one
        if self._idle:
            worker = self._idle.pop()
        else:
            worker = await asyncio.get_running_loop().run_in_executor(self._threads, _Worker)
        self._busy.add(worker)
        if self._closed:  # closed while this one started
            self._drop(worker)
            raise MediaError(path, "not converted: the media pool is closed")
        return worker

    def _drop(self, worker: _Worker) -> None:
        """Kill ``worker`` now and reap it in a thread; the next call starts a fresh one."""
        self._busy.discard(worker)
        worker.process.kill()
        try:
            self._threads.submit(worker.stop, kill=True)
        except RuntimeError:  # the pool is closing: reap it here, a killed process ends at once
            worker.stop(kill=True)

    async def close(self) -> None:
        """Stop every worker (a call still running gets MediaCrash); idempotent."""
        if self._closed:
            return
        self._closed = True
        idle, busy = self._idle, list(self._busy)
        self._idle = []
        for worker in busy:
            worker.process.kill()
        stops = [asyncio.to_thread(worker.stop, kill=False) for worker in idle]
        stops += [asyncio.to_thread(worker.process.join) for worker in busy]
        await asyncio.gather(*stops)
        await asyncio.to_thread(self._threads.shutdown, wait=True)


def _result(outcome: str, value: Any, path: str, timeout_s: float) -> Any:
    """The call's value, or the error its outcome stands for."""
    if outcome == "ok":
        return value
    if outcome == "error":
        raise cast("MediaError", value)
    if outcome == "timeout":
        raise MediaTimeout(path, f"conversion stopped after {timeout_s:g} s (its time bound)")
    raise MediaCrash(path, f"the conversion's worker process died (exit code {value})")
