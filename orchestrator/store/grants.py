"""What a claim may spend, from the ledger rows it read under its quota locks (pure: the
decisions are ``core.quota``'s; this only fits them to a claim's jobs)."""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.core import quota
from orchestrator.core.jobs import Job, State
from orchestrator.store.types import Charge, Spend


def allow(
    spend: Spend,
    jobs: Sequence[Job],
    enter: State | None,
    now: float,
    spent: Sequence[tuple[float, float]],
    paused_until: float | None,
) -> tuple[int, float | None]:
    """How many of ``jobs`` (in order) ``spend`` allows, given what was ``spent`` in its
    window (``(time, amount)``); when not all, the time it allows more."""
    spec = spend.spec
    if spend.amount is None:
        times = [t for t, _ in spent]
        granted = quota.grant(times, spec, now, len(jobs), paused_until=paused_until)
        wake = None
        if granted < len(jobs):
            wake = quota.next_allowed(
                [*times, *[now] * granted], spec, now, paused_until=paused_until
            )
        return granted, wake
    return quota.fit_amounts(
        spent, spec, now, _amounts(spend, jobs, enter), paused_until=paused_until
    )


def charges(spend: Spend, jobs: Sequence[Job], enter: State | None, now: float) -> list[Charge]:
    """The ledger rows ``jobs`` (every one allowed) spend against ``spend``'s quota: one
    request each, or each one's amount (none for an amount of 0)."""
    if spend.amount is None:
        return [Charge(spend.quota, now, 1.0)] * len(jobs)
    limit = spend.spec.effective_limit
    return [
        Charge(spend.quota, now, amount)
        for amount in _amounts(spend, jobs, enter)
        if 0 < amount <= limit
    ]


def _amounts(spend: Spend, jobs: Sequence[Job], enter: State | None) -> list[float]:
    # Only a job entering the claim's state is charged (one already in it was before).
    assert spend.amount is not None
    return [spend.amount(job) if enter is None or job.state != enter else 0.0 for job in jobs]


def usage(
    spend: Spend, now: float, spent: Sequence[tuple[float, float]], charged: Sequence[Charge]
) -> tuple[float, float]:
    """``(used, left)`` of ``spend``'s quota after a claim wrote ``charged``."""
    mine = [(c.at, c.amount) for c in charged if c.quota == spend.quota]
    if spend.amount is None:
        used, left = quota.usage([t for t, _ in [*spent, *mine]], spend.spec, now)
        return float(used), float(left)
    return quota.usage_amount([*spent, *mine], spend.spec, now)
