"""Retry timing: exponential backoff with full jitter and a cap, honouring Retry-After.

Pure: the random draw and the current time are passed in, so callers (and tests) decide
where randomness and time come from.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a retryable failure is retried."""

    max_attempts: int = 8
    base_delay_s: float = 2.0
    max_delay_s: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.base_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("retry delays must not be negative")


def backoff_delay(attempt: int, policy: RetryPolicy, rand: float) -> float:
    """The delay before retry number ``attempt`` (1 = the first retry), full jitter.

    The ceiling is ``min(max_delay_s, base_delay_s * 2 ** (attempt - 1))`` and the delay is
    ``rand`` (uniform in ``[0, 1)``) times it: full jitter spreads a crowd of failures
    (a burst of 5xx across many jobs) instead of retrying them in lockstep.
    """
    if not 0.0 <= rand < 1.0:
        raise ValueError(f"rand must be in [0, 1), got {rand}")
    # 2.0 ** 1000 is still a finite float: capping the exponent avoids OverflowError for
    # absurd attempt numbers while the ceiling has long reached max_delay_s.
    exponent = min(max(0, attempt - 1), 1000)
    ceiling = min(policy.max_delay_s, policy.base_delay_s * 2.0**exponent)
    return rand * ceiling


def retry_at(
    now: float, attempt: int, policy: RetryPolicy, rand: float, retry_after: float | None
) -> float:
    """When to retry: ``now`` plus the backoff, but never before the server's Retry-After.

    ``retry_after`` is in seconds from ``now`` (already parsed); it is a lower bound, not
    capped, because retrying earlier than the server asked only earns another 429.
    """
    delay = backoff_delay(attempt, policy, rand)
    if retry_after is not None and retry_after > delay:
        delay = retry_after
    return now + delay


def should_give_up(attempt: int, policy: RetryPolicy) -> bool:
    """True once ``attempt`` failed attempts have been made and that is the maximum."""
    return attempt >= policy.max_attempts
