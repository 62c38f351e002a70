"""How other tools poll an operation (shared/speechkit-api.md section 7), as pure schedules.

Intervals are in SERVICE seconds: the poller divides them by the emulator's speed factor,
so a tool that waits 1 s against the real service waits 1/speed s against a clock that
runs ``speed`` times faster. Anything else would compare different tools, not clocks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    """When a tool checks an operation: after ``first_s``, then every interval, growing."""

    key: str
    label: str
    source: str  # where the behaviour comes from, for the report
    first_s: float  # delay before the first check (0: at once, right after submitting)
    interval_s: float
    growth: float = 1.0
    max_interval_s: float = float("inf")

    def delays(self) -> Iterator[float]:
        """Service seconds to wait before each successive check (an endless iterator)."""
        yield self.first_s
        interval = self.interval_s
        while True:
            yield min(interval, self.max_interval_s)
            interval = min(interval * self.growth, self.max_interval_s)


BASELINES: tuple[Schedule, ...] = (
    Schedule(
        key="docs",
        label="docs sample (1 s)",
        source="SpeechKit docs' Python sample: sleep 1 s, GET, until done",
        first_s=1.0,
        interval_s=1.0,
    ),
    Schedule(
        key="ai-studio-sdk",
        label="yandex-ai-studio-sdk (10 s)",
        source="run_deferred/wait: GET at once, then every 10 s",
        first_s=0.0,
        interval_s=10.0,
    ),
    Schedule(
        key="community",
        label="community SDK (2 s)",
        source="a popular community SDK: every 2 s",
        first_s=2.0,
        interval_s=2.0,
    ),
    Schedule(
        key="google",
        label="google-api-core (1 s x1.5 <=20 s)",
        source="google-api-core polling: at once, then 1 s growing x1.5 up to 20 s",
        first_s=0.0,
        interval_s=1.0,
        growth=1.5,
        max_interval_s=20.0,
    ),
)


def by_key(key: str) -> Schedule:
    """The baseline schedule named ``key``; KeyError when there is none."""
    for schedule in BASELINES:
        if schedule.key == key:
            return schedule
    raise KeyError(key)
