"""Sliding-window request quotas, as the service enforces them (429 past the limit)."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable


class SlidingWindow:
    """At most ``limit`` requests in any ``window_s`` seconds; refused requests are not counted."""

    def __init__(
        self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._spent: deque[float] = deque()

    def _forget_old(self, now: float) -> None:
        while self._spent and self._spent[0] <= now - self.window_s:
            self._spent.popleft()

    def try_acquire(self) -> float | None:
        """Spend one request and return None, or return the seconds until a slot frees."""
        now = self._clock()
        self._forget_old(now)
        if len(self._spent) < self.limit:
            self._spent.append(now)
            return None
        return max(self._spent[0] + self.window_s - now, 0.0)

    def used(self) -> int:
        """Requests spent in the current window."""
        self._forget_old(self._clock())
        return len(self._spent)


def retry_after_header(wait_s: float) -> str:
    """Retry-After in whole seconds (what HTTP allows), never 0, so a client waits enough."""
    return str(max(1, math.ceil(wait_s)))
