"""Counters shaped like the emulator's /_emulator/stats, for the bench's tests."""

from __future__ import annotations

from typing import Any

T0 = 1_764_600_000.0  # Unix time, as the emulator's counters hold it


def operation(
    created: float,
    started: float | None,
    finished: float | None,
    seen: float | None,
    checks: int = 1,
    audio_s: float = 60.0,
) -> dict[str, Any]:
    """One operation's counters, every field the emulator writes (times relative to T0)."""
    lag = None if seen is None or finished is None else seen - finished
    return {
        "api": "v2",
        "model": "general",
        "created_at": T0 + created,
        "started_at": None if started is None else T0 + started,
        "finished_at": None if finished is None else T0 + finished,
        "outcome": "running" if finished is None else "response",
        "error_code": None,
        "audio_seconds": audio_s,
        "channels": 1,
        "status_checks": checks,
        "checks_after_done": 0 if seen is None else 1,
        "first_check_after_done": None if seen is None else T0 + seen,
        "lag_s": lag,
        "expired": False,
    }


def stats(
    operations: list[dict[str, Any]],
    *,
    submit_quota: int = 2,
    window_s: float = 10.0,
    speed: float = 10.0,
    throttled: dict[str, int] | None = None,
) -> dict[str, Any]:
    """A /_emulator/stats answer around ``operations``."""
    refused = throttled or {}
    return {
        "settings": {
            "speed": speed,
            "seed": 1,
            "submit_quota": submit_quota,
            "status_quota": 5 * submit_quota,
            "quota_window_s": window_s,
            "ttl_s": 259200 / speed,
            "max_concurrent": 20,
        },
        "summary": {"operations": len(operations)},
        "requests": {},
        "throttled": refused,
        "throttled_total": sum(refused.values()),
        "faults": {},
        "operations": {f"e03op{i:017d}": op for i, op in enumerate(operations)},
    }
