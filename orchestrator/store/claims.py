"""A claim, written once for both databases: due jobs leased, the quotas they spend granted
and spent, states entered, all in one transaction.

Why no daemon can overspend: a claim first takes its quotas' locks (``lock_quotas``:
PostgreSQL locks each quota's row ``FOR UPDATE``, every claim in the same name order, so
two claims never wait on each other in a circle; SQLite's write transaction holds the
whole file), then reads the ledger and writes what it spends before it commits. The next
claim of any daemon on the same quota waits for the lock and, reading committed rows only
after it has it, sees that spend. So grant and spend are one atomic step per quota across
all daemons, unlike a check followed by an insert that two processes may interleave.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.core.jobs import Job
from orchestrator.store import grants
from orchestrator.store.connector import Connector, Session
from orchestrator.store.rows import COUNTERS
from orchestrator.store.types import Charge, Claim, Claimed


def _nothing(held: dict[str, float] | None = None) -> Claimed:
    """A claim that took no job (``held``: the quotas or cap that held it back)."""
    return Claimed([], frozenset(), {}, {} if held is None else held)


async def claim(db: Connector, claim: Claim, owner: str, now: float) -> Claimed:
    """Lease up to ``claim.limit`` due jobs, earliest due first within priority; grant and
    spend ``claim.spends`` and enter ``claim.enter``, all in one transaction."""
    if claim.limit <= 0:
        return _nothing()
    if claim.count is not None and claim.count not in COUNTERS:
        raise ValueError(f"not a job counter: {claim.count}")
    cap = f"cap:{','.join(claim.apis or ('any',))}" if claim.cap is not None else None
    async with db.transaction() as tx:
        locked = sorted({s.quota for s in claim.spends} | ({cap} if cap else set()))
        pauses = await db.lock_quotas(tx, locked)
        if claim.clock is not None:
            now = claim.clock()  # the quotas are ours: the requests' time
        held: dict[str, float] = {}
        limit = await _room(db, tx, claim, cap, now, held)
        if limit <= 0:
            return _nothing(held)
        jobs = await db.due(tx, claim, limit, now)
        if len(jobs) < limit:
            held.clear()  # not held back: fewer were due than the cap allowed
        if not jobs:
            return _nothing(held)  # no quota to read: none spent
        jobs, charges, usage = await _grant(tx, claim, jobs, now, pauses, held)
        entered = frozenset(
            job.id for job in jobs if claim.enter is not None and job.state != claim.enter
        )
        await _write(tx, claim, owner, now, jobs, entered, charges)
    moved = [_entered(job, claim, now) if job.id in entered else job for job in jobs]
    return Claimed(moved, entered, usage, held)


async def _room(
    db: Connector, tx: Session, claim: Claim, cap: str | None, now: float, held: dict[str, float]
) -> int:
    """How many jobs the claim may take: its limit, or fewer when ``claim.cap`` jobs of its
    APIs are in its state already (counted under the cap's own lock; then ``held`` says
    when to look again: one of them leaving wakes the stage sooner, another daemon's lease
    at the latest)."""
    if cap is None or claim.cap is None or claim.enter is None:
        return claim.limit
    row = await tx.fetch_one("count_in_state", state=claim.enter.value, apis=db.apis(claim.apis))
    room = claim.cap - (int(row[0]) if row else 0)
    if room < claim.limit:
        held[cap] = now + claim.lease_s
    return min(claim.limit, room)


async def _grant(
    tx: Session,
    claim: Claim,
    jobs: list[Job],
    now: float,
    pauses: Mapping[str, float | None],
    held: dict[str, float],
) -> tuple[list[Job], list[Charge], dict[str, tuple[float, float]]]:
    """The jobs every quota lets through (``held`` gets when each quota that held some back
    allows more), the ledger rows they spend, and each quota's usage after them."""
    spent: dict[str, list[tuple[float, float]]] = {}
    paused: dict[str, float | None] = {}
    for spend in claim.spends:
        since = now - spend.spec.window_s
        rows = await tx.fetch_all("quota_amounts", quota=spend.quota, since=since)
        spent[spend.quota] = [(float(row[0]), float(row[1])) for row in rows]
        paused[spend.quota] = await _pause(tx, spend.quota, pauses)
    granted = len(jobs)
    for spend in claim.spends:
        granted, wake = grants.allow(
            spend, jobs[:granted], claim.enter, now, spent[spend.quota], paused[spend.quota]
        )
        if wake is not None:
            held[spend.quota] = wake
    jobs = jobs[:granted]
    # Charged for the jobs every quota let through (a job one quota held back spends
    # nothing on the others).
    charges = [c for spend in claim.spends for c in grants.charges(spend, jobs, claim.enter, now)]
    usage = {
        spend.quota: grants.usage(spend, now, spent[spend.quota], charges) for spend in claim.spends
    }
    return jobs, charges, usage


async def _pause(tx: Session, quota: str, pauses: Mapping[str, float | None]) -> float | None:
    """``quota``'s pause: as its lock read it, else from its row."""
    if quota in pauses:
        return pauses[quota]
    row = await tx.fetch_one("get_pause", quota=quota)
    return None if row is None or row[0] is None else float(row[0])


async def _write(
    tx: Session,
    claim: Claim,
    owner: str,
    now: float,
    jobs: Sequence[Job],
    entered: frozenset[int],
    charges: Sequence[Charge],
) -> None:
    """Lease ``jobs``, move those ``entered`` to the claim's state (a counter bumped) and
    write the ledger rows."""
    if jobs:
        leases = [{"id": job.id} for job in jobs]
        await tx.execute_many("lease_jobs", leases, owner=owner, until=now + claim.lease_s)
    if entered and claim.enter is not None:
        bumps = {counter: int(counter == claim.count) for counter in sorted(COUNTERS)}
        moved = [{"id": job_id} for job_id in sorted(entered)]
        await tx.execute_many("enter_state", moved, state=claim.enter.value, now=now, **bumps)
    if charges:
        await tx.execute_many("spend", [charge._asdict() for charge in charges])


def _entered(job: Job, claim: Claim, now: float) -> Job:
    """``job`` as the claim changed it in the store."""
    assert claim.enter is not None
    changes: dict[str, Any] = {"state": claim.enter, "updated_at": now}
    if claim.count:
        changes[claim.count] = getattr(job, claim.count) + 1
    return dataclasses.replace(job, **changes)
