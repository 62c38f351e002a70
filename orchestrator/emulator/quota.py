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

from orchestrator.core import constants


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


class AudioMeter:
    """Billable audio seconds in a sliding window: the 10,000 hours a day of speechkit-api.md
    section 4 (a window of a day divided by the emulator's speed; the hours are not scaled,
    as audio durations are real).

    When the audio counts is a guess (no page says): here at the time the operation has
    read its audio, and a submission is refused (429) once the window's audio already
    reaches the limit, so operations accepted before it was reached still run.
    """

    def __init__(
        self, limit_s: float, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit_s = limit_s
        self.window_s = window_s
        self._clock = clock
        self._spent: deque[tuple[float, float]] = deque()
        self._total = 0.0
        self.throttled = 0

    def _forget_old(self, now: float) -> None:
        while self._spent and self._spent[0][0] <= now - self.window_s:
            self._total -= self._spent.popleft()[1]

    def add(self, seconds: float) -> None:
        """Count ``seconds`` of billable audio now."""
        self._spent.append((self._clock(), seconds))
        self._total += seconds

    def wait_s(self) -> float | None:
        """None while audio is left in the window; else the seconds until enough frees."""
        now = self._clock()
        self._forget_old(now)
        if self._total < self.limit_s:
            return None
        self.throttled += 1
        left, at = self._total, now
        for when, seconds in self._spent:
            left -= seconds
            at = when
            if left < self.limit_s:
                break
        return max(at + self.window_s - now, 0.0)

    def as_json(self) -> dict[str, Any]:
        """The meter for /_emulator/stats."""
        self._forget_old(self._clock())
        return {
            "limit_s": self.limit_s,
            "window_s": self.window_s,
            "used_s": max(self._total, 0.0),
            "throttled": self.throttled,
        }


def billable_seconds(duration_s: float, channels: int) -> float:
    """The billing unit (speechkit-api.md section 4): channels rounded up to pairs, at
    least 15 s per pair."""
    return max(duration_s, constants.BILLING_MIN_S_PER_PAIR) * math.ceil(channels / 2)


def retry_after_header(wait_s: float) -> str:
    """Retry-After in whole seconds (what HTTP allows), never 0, so a client waits enough."""
    return str(max(1, math.ceil(wait_s)))
