"""Figures of one contender, computed only from the emulator's counters (pure).

Times on the emulator's clock are wall seconds; multiplied by the speed factor they are
SERVICE seconds, the time the same run would take against the real service.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

STATUS_ENDPOINT = "GET /operations/{operation_id}"
SUBMIT_ENDPOINT = "POST /speech/stt/v2/longRunningRecognize"


@dataclass(frozen=True)
class Metrics:
    """One contender's figures; service seconds unless the name says otherwise."""

    jobs: int
    operations: int
    succeeded: int
    failed: int
    never_seen_done: int  # operations done on the server but never checked afterwards
    submissions_per_job: float
    checks_per_job: float  # status checks that were answered (429s not included)
    status_requests_per_job: float  # every GET /operations, 429s included
    throttled_submits: int
    throttled_checks: int
    lag_p50_s: float | None  # done on the server -> first check that saw it done
    lag_p90_s: float | None
    lag_max_s: float | None
    seconds_per_check: float | None  # mean service time between checks while running
    wall_h: float | None  # first submission -> last operation seen done, service hours

    @property
    def throttled(self) -> int:
        """Every 429 the contender received."""
        return self.throttled_submits + self.throttled_checks

    def as_json(self) -> dict[str, Any]:
        """Plain JSON, derived figures included."""
        return {**asdict(self), "throttled": self.throttled}


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-quantile (0..1) with linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _requests(stats: dict[str, Any], endpoint: str) -> int:
    statuses = stats.get("requests", {}).get(endpoint, {})
    return sum(int(count) for count in statuses.values())


def measure(stats: dict[str, Any], jobs: int, speed: float) -> Metrics:
    """The figures of a run of ``jobs`` jobs from ``stats`` (GET /_emulator/stats)."""
    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    operations: list[dict[str, Any]] = list(stats.get("operations", {}).values())
    finished = [op for op in operations if op.get("finished_at") is not None]
    seen = [op for op in finished if op.get("first_check_after_done") is not None]
    lags = [float(op["lag_s"]) * speed for op in seen if op.get("lag_s") is not None]
    per_check = [
        (float(op["first_check_after_done"]) - float(op["created_at"])) / op["status_checks"]
        for op in seen
        if op.get("status_checks")
    ]
    wall_h = None
    if operations and len(seen) == len(operations):
        start = min(float(op["created_at"]) for op in operations)
        end = max(float(op["first_check_after_done"]) for op in seen)
        wall_h = (end - start) * speed / 3600.0
    throttled = stats.get("throttled", {})
    checks = sum(int(op.get("status_checks", 0)) for op in operations)
    return Metrics(
        jobs=jobs,
        operations=len(operations),
        succeeded=sum(1 for op in finished if op.get("outcome") == "response"),
        failed=sum(1 for op in finished if op.get("outcome") == "error"),
        never_seen_done=len(finished) - len(seen),
        submissions_per_job=len(operations) / jobs,
        checks_per_job=checks / jobs,
        status_requests_per_job=_requests(stats, STATUS_ENDPOINT) / jobs,
        throttled_submits=int(throttled.get("submit", 0)),
        throttled_checks=int(throttled.get("status", 0)),
        lag_p50_s=percentile(lags, 0.5),
        lag_p90_s=percentile(lags, 0.9),
        lag_max_s=max(lags) if lags else None,
        seconds_per_check=(sum(per_check) / len(per_check) * speed) if per_check else None,
        wall_h=wall_h,
    )
