"""Figures of one contender in the backlog regime, from the emulator's counters only (pure).

The emulator's times are wall seconds on its clock; multiplied by its speed they are
SERVICE seconds, what the same run would take against the real service. The quota
settings (requests per window, the window) are read from the same counters, so a figure
never depends on what the bench believes it asked for.

- Quota share: submissions are counted in consecutive windows starting at the first
  submission; the first window (a fresh quota lets a burst through) and the last (the
  backlog runs out) are left out, and the others are the steady state: their submissions
  over the quota they allowed.
- Physical limit: under a sliding window of ``Q`` requests per ``W``, submission ``k``
  (counting from 0) cannot go before ``floor(k / Q) * W`` after the first, so the last of
  ``N`` jobs cannot be done before ``floor((N - 1) / Q) * W`` plus its own processing time.
  (``N / Q * W`` would overstate the limit by up to a window: a fresh quota's first window
  lets ``Q`` through at once.)
- Processing time: from when the service started the job (a slot was free) to when it
  finished; the time the job waited in the service's queue is not processing.
- Lag: from done on the server to the first check that saw it. Its share is per job, lag
  over that job's processing time; the percentiles are of those shares.
- Service pace: the median of each job's processing time over what the service's
  documented pace (10 s per audio minute and channel) gives it. The emulator's noise has
  a median of 1, so this is about 1 when the emulator keeps time; well above 1, it was
  starved of CPU and every time in the run is stretched.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from bench.metrics import percentile

PROCESSING_S_PER_AUDIO_S = 10.0 / 60.0  # the service's documented pace, per channel


@dataclass(frozen=True)
class BacklogMetrics:
    """One contender's backlog figures; service seconds unless the name says otherwise."""

    jobs: int
    operations: int
    succeeded: int
    failed: int
    never_seen_done: int  # done on the server, never checked afterwards (the tool gave up)
    submit_quota: int
    status_quota: int
    window_s: float
    submissions_per_window: tuple[int, ...]
    steady_quota_share: float | None  # None: fewer than three windows
    makespan_s: float | None  # first submission -> last job seen done; None if one never was
    limit_s: float | None
    # jobs / quota x window + the last job's processing: the steady-state throughput's
    # bound, which a fresh quota's first window beats by up to a window (JSON only)
    fluid_limit_s: float | None
    checks_per_job: float  # answered status checks (429s not included)
    lag_p50_s: float | None
    lag_p95_s: float | None
    lag_share_p50: float | None  # lag / the job's processing time
    lag_share_p95: float | None
    processing_p50_s: float | None
    service_pace: float | None  # ~1 when the emulator kept time (see the module's notes)
    throttled_submits: int
    throttled_checks: int

    @property
    def throttled(self) -> int:
        """Every 429 the contender received."""
        return self.throttled_submits + self.throttled_checks

    @property
    def makespan_vs_limit(self) -> float | None:
        """The makespan as a multiple of the physical limit."""
        if self.makespan_s is None or not self.limit_s:
            return None
        return self.makespan_s / self.limit_s

    def as_json(self) -> dict[str, Any]:
        """Plain JSON, derived figures included."""
        return {
            **asdict(self),
            "submissions_per_window": list(self.submissions_per_window),
            "throttled": self.throttled,
            "makespan_vs_limit": self.makespan_vs_limit,
        }


def per_window(times: list[float], window: float) -> tuple[int, ...]:
    """How many of ``times`` fall in each window ``[t0 + k*window, t0 + (k+1)*window)``.

    ``t0`` is the earliest time; the result runs up to the window of the latest one.
    """
    if window <= 0:
        raise ValueError("the window must be positive")
    if not times:
        return ()
    start = min(times)
    counts: list[int] = []
    for t in times:
        index = math.floor((t - start) / window)
        counts.extend([0] * (index + 1 - len(counts)))
        counts[index] += 1
    return tuple(counts)


def steady_share(counts: tuple[int, ...], quota: int) -> float | None:
    """Submissions over the quota in every window but the first and the last."""
    if quota < 1:
        raise ValueError("the quota must be at least 1")
    steady = counts[1:-1]
    if not steady:
        return None
    return sum(steady) / (quota * len(steady))


def physical_limit_s(jobs: int, quota: int, window_s: float, last_processing_s: float) -> float:
    """The earliest the last of ``jobs`` can be done: its window's start plus its processing."""
    if jobs < 1 or quota < 1:
        raise ValueError("jobs and quota must be at least 1")
    return (jobs - 1) // quota * window_s + last_processing_s


def processing_s(op: dict[str, Any]) -> float | None:
    """Wall seconds from the start of processing to the finish; None when unknown."""
    started, finished = op.get("started_at"), op.get("finished_at")
    if started is None or finished is None:
        return None
    return float(finished) - float(started)


def lag_shares(operations: list[dict[str, Any]]) -> list[float]:
    """Each seen job's lag as a share of its own processing time."""
    shares = []
    for op in operations:
        lag, processing = op.get("lag_s"), processing_s(op)
        if lag is not None and processing is not None and processing > 0:
            shares.append(float(lag) / processing)
    return shares


def service_pace(
    operations: list[dict[str, Any]], speed: float, overhead_s: float = 0.0
) -> float | None:
    """Median processing time over the documented pace's (plus the emulator's overhead per
    operation, service seconds), across ``operations``."""
    paces = []
    for op in operations:
        processing, audio = processing_s(op), op.get("audio_seconds")
        if processing is not None and audio:
            audio_part = float(audio) * int(op.get("channels") or 1) * PROCESSING_S_PER_AUDIO_S
            expected = overhead_s + audio_part
            paces.append(processing * speed / expected)
    return percentile(paces, 0.5)


def measure_backlog(stats: dict[str, Any], jobs: int) -> BacklogMetrics:
    """The figures of a run of ``jobs`` jobs from ``stats`` (GET /_emulator/stats)."""
    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    settings = stats["settings"]
    speed = float(settings["speed"])
    window = float(settings["quota_window_s"])
    submit_quota = int(settings["submit_quota"])
    operations: list[dict[str, Any]] = list(stats.get("operations", {}).values())
    finished = [op for op in operations if op.get("finished_at") is not None]
    seen = [op for op in finished if op.get("first_check_after_done") is not None]
    created = [float(op["created_at"]) for op in operations]
    counts = per_window(created, window)
    lags = [float(op["lag_s"]) * speed for op in seen if op.get("lag_s") is not None]
    shares = lag_shares(seen)
    durations = [p * speed for p in map(processing_s, finished) if p is not None]
    makespan = limit = fluid_limit = None
    if operations:
        last = max(operations, key=lambda op: float(op["created_at"]))
        last_processing = processing_s(last)
        if last_processing is not None:
            limit = physical_limit_s(jobs, submit_quota, window, last_processing) * speed
            fluid_limit = (jobs / submit_quota * window + last_processing) * speed
        if len(seen) == len(operations) == jobs:
            end = max(float(op["first_check_after_done"]) for op in seen)
            makespan = (end - min(created)) * speed
    throttled = stats.get("throttled", {})
    return BacklogMetrics(
        jobs=jobs,
        operations=len(operations),
        succeeded=sum(1 for op in finished if op.get("outcome") == "response"),
        failed=sum(1 for op in finished if op.get("outcome") == "error"),
        never_seen_done=len(finished) - len(seen),
        submit_quota=submit_quota,
        status_quota=int(settings["status_quota"]),
        window_s=window * speed,
        submissions_per_window=counts,
        steady_quota_share=steady_share(counts, submit_quota),
        makespan_s=makespan,
        limit_s=limit,
        fluid_limit_s=fluid_limit,
        checks_per_job=sum(int(op.get("status_checks", 0)) for op in operations) / jobs,
        lag_p50_s=percentile(lags, 0.5),
        lag_p95_s=percentile(lags, 0.95),
        lag_share_p50=percentile(shares, 0.5),
        lag_share_p95=percentile(shares, 0.95),
        processing_p50_s=percentile(durations, 0.5),
        service_pace=service_pace(
            finished, speed, float(settings.get("processing_overhead_s", 0.0))
        ),
        throttled_submits=int(throttled.get("submit", 0)),
        throttled_checks=int(throttled.get("status", 0)),
    )
