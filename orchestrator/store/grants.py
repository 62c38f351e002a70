"""What a claim may spend, from the ledger rows it read under its quota locks (pure: the
decisions are ``core.quota``'s; this only fits them to a claim's jobs)."""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.core import quota
from orchestrator.core.jobs import Job, State
from orchestrator.store.types import Charge, Spend


def grant(
    spend: Spend,
    jobs: Sequence[Job],
    enter: State | None,
    now: float,
    spent: Sequence[tuple[float, float]],
    paused_until: float | None,
) -> tuple[int, float | None, list[Charge]]:
    """How many of ``jobs`` (in order) ``spend`` allows, given what was ``spent`` in its
    window (``(time, amount)``); when not all, the time it allows more; the ledger rows
    to write for those granted."""
    spec = spend.spec
    if spend.amount is None:
        times = [t for t, _ in spent]
        granted = quota.grant(times, spec, now, len(jobs), paused_until=paused_until)
        wake = None
        if granted < len(jobs):
            wake = quota.next_allowed(
                [*times, *[now] * granted], spec, now, paused_until=paused_until
            )
        return granted, wake, [Charge(spend.quota, now, 1.0)] * granted
    # Only a job entering the claim's state is charged (one already in it was before).
    amounts = [spend.amount(job) if enter is None or job.state != enter else 0.0 for job in jobs]
    granted, wake = quota.fit_amounts(spent, spec, now, amounts, paused_until=paused_until)
    limit = spec.effective_limit
    rows = [Charge(spend.quota, now, amount) for amount in amounts[:granted] if 0 < amount <= limit]
    return granted, wake, rows


def usage(
    spend: Spend, now: float, spent: Sequence[tuple[float, float]], charged: Sequence[Charge]
) -> tuple[float, float]:
    """``(used, left)`` of ``spend``'s quota after a claim wrote ``charged``."""
    mine = [(c.at, c.amount) for c in charged if c.quota == spend.quota]
    if spend.amount is None:
        used, left = quota.usage([t for t, _ in [*spent, *mine]], spend.spec, now)
        return float(used), float(left)
    return quota.usage_amount([*spent, *mine], spend.spec, now)
