"""How other tools poll an operation and back off on a 429, as pure schedules.

The sources are the tools' own code and documentation (see each schedule's ``source``).
Intervals are in SERVICE seconds: the poller divides them by the emulator's speed factor,
so a tool that waits 1 s against the real service waits 1/speed s against a clock that
runs ``speed`` times faster. Anything else would compare different tools, not clocks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    """When a tool checks an operation.

    Per job: the first check after ``first_s + first_per_audio * audio seconds``, then
    ``interval_s`` growing by ``growth`` up to ``max_interval_s``; after ``max_checks``
    checks the tool gives up on the job. A ``tick_s`` schedule ignores all that: a timer
    fires every ``tick_s`` from the tool's start and checks every pending operation.
    """

    key: str
    label: str
    source: str  # where the behaviour comes from, for the report
    first_s: float = 0.0  # delay before the first check (0: at once, right after submitting)
    interval_s: float = 0.0
    growth: float = 1.0
    max_interval_s: float = math.inf
    first_per_audio: float = 0.0  # first check also waits this many seconds per audio second
    max_checks: int | None = None  # None: check until done
    tick_s: float | None = None  # a timer of this period checks every pending operation

    def __post_init__(self) -> None:
        if self.tick_s is None and self.interval_s <= 0:
            raise ValueError(f"{self.key}: a per-job schedule needs a positive interval")
        if self.tick_s is not None and self.tick_s <= 0:
            raise ValueError(f"{self.key}: the timer period must be positive")
        if self.growth < 1 or self.first_s < 0 or self.first_per_audio < 0:
            raise ValueError(f"{self.key}: growth must be >= 1 and delays not negative")
        if self.max_checks is not None and self.max_checks < 1:
            raise ValueError(f"{self.key}: max_checks must be at least 1")

    def delay_before(self, check: int, *, audio_s: float, elapsed_s: float) -> float | None:
        """Service seconds to wait before check number ``check`` (0: the first); None: give up.

        ``audio_s`` is the job's audio duration times its channels; ``elapsed_s`` is the
        service time since the tool started (only a timer's schedule depends on it).
        """
        if self.max_checks is not None and check >= self.max_checks:
            return None
        if self.tick_s is not None:
            # The next tick strictly after now: a check made right on a tick waits a whole
            # period for the next one, as a timer-driven function does.
            return self.tick_s - math.fmod(max(elapsed_s, 0.0), self.tick_s)
        if check == 0:
            return self.first_s + self.first_per_audio * audio_s
        interval = self.interval_s * self.growth ** min(check - 1, 64)
        return min(interval, self.max_interval_s)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter, for a 429 that carries no Retry-After.

    The wait after the ``n``-th consecutive 429 of a request is uniform in
    ``[0, min(cap_s, base_s * factor ** (n - 1))]`` (AWS's "full jitter"): clients that
    were refused together do not come back together.
    """

    base_s: float = 1.0
    factor: float = 2.0
    cap_s: float = 60.0

    def ceiling(self, attempt: int) -> float:
        """The longest wait after the ``attempt``-th consecutive 429 (1-based)."""
        if attempt < 1:
            raise ValueError("attempt counts from 1")
        return min(self.cap_s, self.base_s * self.factor ** min(attempt - 1, 64))

    def delay(self, attempt: int, draw: float) -> float:
        """The wait for a uniform ``draw`` in [0, 1)."""
        return draw * self.ceiling(attempt)


# google-api-core's default retry (initial 1 s, x2, at most 60 s) with full jitter: what a
# tool that handles 429 at all most plausibly does when the service names no wait.
THROTTLE_BACKOFF = Backoff(base_s=1.0, factor=2.0, cap_s=60.0)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header in delta-seconds; None when absent or not a number.

    An HTTP-date is treated as absent: against a sped-up emulator a date means nothing.
    """
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def throttle_wait_s(
    retry_after: str | None, attempt: int, speed: float, draw: float, backoff: Backoff
) -> float:
    """Wall seconds to wait after a 429: the server's Retry-After, else the backoff.

    Retry-After is on the emulator's own (wall) clock, so it is not scaled; the backoff is
    in service seconds, so it is divided by ``speed`` like every other interval.
    """
    told = parse_retry_after(retry_after)
    if told is not None:
        return told
    return backoff.delay(attempt, draw) / speed


_DOCS = Schedule(
    key="docs",
    label="docs sample (1 s)",
    source="SpeechKit docs' Python sample: sleep 1 s, GET, until done",
    first_s=1.0,
    interval_s=1.0,
)
_AI_STUDIO = Schedule(
    key="ai-studio-sdk",
    label="yandex-ai-studio-sdk (10 s)",
    source="run_deferred/wait: GET at once, then every 10 s",
    first_s=0.0,
    interval_s=10.0,
)

BASELINES: tuple[Schedule, ...] = (
    _DOCS,
    _AI_STUDIO,
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
"""The default regime's baselines (a batch inside one quota window)."""

BACKLOG_BASELINES: tuple[Schedule, ...] = (
    _DOCS,
    _AI_STUDIO,
    Schedule(
        key="speechkitty",
        label="SpeechKitty (audio/6, 10x3 s)",
        source="SpeechKitty transcriber: sleep duration x channels / 6, then at most 10 "
        "GETs 3 s apart, then give up",
        first_per_audio=1.0 / 6.0,
        interval_s=3.0,
        max_checks=10,
    ),
    Schedule(
        key="azure",
        label="Azure ingestion (2 min x2 <=2 h)",
        source="Azure batch ingestion client: first check after InitialPollingDelay (2 min), "
        "then 2, 4, 8 ... min, capped at MaxPollingDelay (its code's default, 120 min)",
        first_s=120.0,
        interval_s=120.0,
        growth=2.0,
        max_interval_s=7200.0,
    ),
    Schedule(
        key="serverless",
        label="Yandex serverless batch (1 min timer)",
        source="Yandex's serverless batch recognizer: a timer trigger every minute checks "
        "every pending operation once",
        tick_s=60.0,
    ),
)
"""The backlog regime's baselines (a backlog several quota windows deep)."""


def all_schedules() -> tuple[Schedule, ...]:
    """Every baseline of every regime, each once."""
    seen: dict[str, Schedule] = {}
    for schedule in (*BASELINES, *BACKLOG_BASELINES):
        seen.setdefault(schedule.key, schedule)
    return tuple(seen.values())


def by_key(key: str) -> Schedule:
    """The baseline schedule named ``key``; KeyError when there is none."""
    for schedule in all_schedules():
        if schedule.key == key:
            return schedule
    raise KeyError(key)
