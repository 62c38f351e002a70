"""Sliding-window request quotas, as the service enforces them (429 past the limit).

``SlidingWindow`` is the rule; ``QuotaMeter`` wraps one with what tests and benchmarks need
to judge a client: when every request arrived, and the most requests that ever arrived
within one window (a client that respects the quota keeps that at or under the limit, in
every sliding window, not just in fixed ones).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any


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


class QuotaMeter:
    """A SlidingWindow plus the record of every request that counted against it."""

    def __init__(
        self,
        limit: int,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.window = SlidingWindow(limit, window_s, clock)
        self._clock = clock
        self._wall_clock = wall_clock
        self.accepted = 0
        self.throttled = 0
        self.arrivals: list[float] = []
        self.max_in_window = 0
        self._recent: deque[float] = deque()

    def try_acquire(self) -> float | None:
        """Record an arrival, then spend it: None, or the seconds until a slot frees."""
        now = self._clock()
        self.arrivals.append(self._wall_clock())
        # Every arrival counts here, refused or not: this is what the client asked for.
        while self._recent and self._recent[0] <= now - self.window.window_s:
            self._recent.popleft()
        self._recent.append(now)
        self.max_in_window = max(self.max_in_window, len(self._recent))
        wait_s = self.window.try_acquire()
        if wait_s is None:
            self.accepted += 1
        else:
            self.throttled += 1
        return wait_s

    def as_json(self) -> dict[str, Any]:
        """The meter for /_emulator/stats."""
        return {
            "limit": self.window.limit,
            "window_s": self.window.window_s,
            "used": self.window.used(),
            "accepted": self.accepted,
            "throttled": self.throttled,
            "max_in_window": self.max_in_window,
            "arrivals": list(self.arrivals),
        }


def retry_after_header(wait_s: float) -> str:
    """Retry-After in whole seconds (what HTTP allows), never 0, so a client waits enough."""
    return str(max(1, math.ceil(wait_s)))
