"""The event loop's errors through the JSON logger, one event per kind per interval.

asyncio's own handler writes a plain-text traceback to stderr for every error it is told
of: a flood of failing accepts (out of file descriptors) would write hundreds of thousands,
past the bounded JSON logger and into the journal. Here each kind is logged at most once
an interval, with how many of it were left out since.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from orchestrator.telemetry.logs import get_logger

_log = get_logger()
# Kinds remembered at most: past it, the oldest is forgotten (and may be logged again).
_MAX_KINDS = 100


class RateLimited:
    """A log event emitted at most once per ``interval_s`` per kind, with a count of those
    left out since the last one."""

    def __init__(
        self, event: str, interval_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """``event`` is the log event's name; ``clock`` says the time (monotonic)."""
        self.event = event
        self.interval_s = interval_s
        self._clock = clock
        self._last: dict[str, float] = {}
        self._left_out: dict[str, int] = {}

    def due(self, kind: str) -> int | None:
        """How many of ``kind`` were left out, if one may be logged now; else None (and
        this one is counted as left out)."""
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last < self.interval_s:
            self._left_out[kind] = self._left_out.get(kind, 0) + 1
            return None
        self._last.pop(kind, None)
        self._last[kind] = now
        while len(self._last) > _MAX_KINDS:
            oldest = next(iter(self._last))
            del self._last[oldest]
            self._left_out.pop(oldest, None)
        return self._left_out.pop(kind, 0)

    def warning(self, kind: str = "", **fields: Any) -> None:
        """Log ``fields`` as a warning, if due."""
        left_out = self.due(kind)
        if left_out is not None:
            _log.warning(self.event, left_out=left_out, **fields)


class LoopErrors:
    """An event loop exception handler: each kind of error (asyncio's message and the
    exception's type) logged as ``loop.error`` once per ``interval_s``, counted."""

    def __init__(self, interval_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        """``clock`` says the time (monotonic)."""
        self._limit = RateLimited("loop.error", interval_s, clock)

    def __call__(self, _loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """What asyncio calls with an error nobody else handled."""
        exc = context.get("exception")
        message = str(context.get("message") or "unhandled error in the event loop")
        kind = f"{message}|{type(exc).__name__ if exc is not None else ''}"
        left_out = self._limit.due(kind)
        if left_out is None:
            return
        error = None if exc is None else f"{type(exc).__name__}: {exc}"
        _log.error("loop.error", message=message, error=error, left_out=left_out, exc_info=exc)


def install(loop: asyncio.AbstractEventLoop, interval_s: float = 60.0) -> LoopErrors:
    """Make ``loop``'s errors go through the JSON logger, rate-limited."""
    handler = LoopErrors(interval_s)
    loop.set_exception_handler(handler)
    return handler
