"""Claims: due jobs leased, quotas granted and spent, states entered, in one transaction;
leases renewed while steps run, and recovered from a daemon that died."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

import aiosqlite

from orchestrator.core import quota
from orchestrator.core.jobs import Job, State
from orchestrator.store.sqlite.connection import Connection
from orchestrator.store.sqlite.schema import COUNTERS, Q, row_to_job
from orchestrator.store.types import Claim, Claimed, Spend


class Claims(Connection):
    """The claim side of the job store."""

    async def claim(self, claim: Claim, owner: str, now: float) -> Claimed:
        """Lease up to ``claim.limit`` due jobs, earliest due first within priority; grant
        and spend ``claim.spends`` and enter ``claim.enter``, all in one transaction."""
        if claim.limit <= 0:
            return Claimed([], frozenset(), {})
        async with self._tx() as db:
            apis = None if claim.apis is None else json.dumps(list(claim.apis))
            limit = claim.limit
            held: dict[str, float] = {}
            if claim.cap is not None and claim.enter is not None:
                counted = {"state": claim.enter.value, "apis": apis}
                async with db.execute(Q["count_in_state"], counted) as cur:
                    row = await cur.fetchone()
                room = claim.cap - (int(row[0]) if row else 0)
                if room < limit:
                    # Full: the stage is woken when one of them leaves the state (or
                    # after a lease, for another daemon's).
                    limit = room
                    held[f"cap:{','.join(claim.apis or ('any',))}"] = now + claim.lease_s
                if limit <= 0:
                    return Claimed([], frozenset(), {}, held)
            params: dict[str, Any] = {
                "states": json.dumps([s.value for s in claim.states]),
                "apis": apis,
                "now": now,
                "limit": limit,
            }
            async with db.execute(Q["select_due"], params) as cur:
                jobs = [row_to_job(row) for row in await cur.fetchall()]
            if len(jobs) < limit:
                held.clear()  # not held back: fewer were due than the cap allowed
            usage: dict[str, tuple[float, float]] = {}
            charges: list[tuple[str, float, float]] = []
            for spend in claim.spends:
                granted, wake, used = await self._grant(db, spend, jobs, claim.enter, now)
                jobs = jobs[:granted]
                charges.extend(used)
                if wake is not None:
                    held[spend.quota] = wake
            for spend in claim.spends:
                # Usage after this claim: what the gauges show.
                mine = [(t, a) for q, t, a in charges if q == spend.quota]
                usage[spend.quota] = await self._usage(db, spend, now, mine)
            entered = frozenset(
                job.id for job in jobs if claim.enter is not None and job.state != claim.enter
            )
            await db.executemany(
                Q["lease_job"],
                [{"owner": owner, "until": now + claim.lease_s, "id": job.id} for job in jobs],
            )
            if entered:
                assert claim.enter is not None
                count = claim.count
                if count is not None and count not in COUNTERS:
                    raise ValueError(f"not a job counter: {count}")
                bump = f", {count} = {count} + 1" if count else ""
                await db.executemany(
                    f"UPDATE jobs SET state = :state, updated_at = :now{bump} WHERE id = :id",
                    [{"state": claim.enter.value, "now": now, "id": i} for i in sorted(entered)],
                )
            await db.executemany(
                Q["spend_amount"],
                [{"quota": q, "now": t, "amount": a} for q, t, a in charges],
            )
        moved = [self._entered(job, claim, now) if job.id in entered else job for job in jobs]
        return Claimed(moved, entered, usage, held)

    @staticmethod
    def _entered(job: Job, claim: Claim, now: float) -> Job:
        """``job`` as the claim changed it in the store."""
        assert claim.enter is not None
        changes: dict[str, Any] = {"state": claim.enter, "updated_at": now}
        if claim.count:
            changes[claim.count] = getattr(job, claim.count) + 1
        return dataclasses.replace(job, **changes)

    async def _grant(
        self,
        db: aiosqlite.Connection,
        spend: Spend,
        jobs: list[Job],
        enter: State | None,
        now: float,
    ) -> tuple[int, float | None, list[tuple[str, float, float]]]:
        """How many of ``jobs`` ``spend`` allows (in order), when it allows more, and the
        ledger rows to write for them."""
        spec = spend.spec
        since = now - spec.window_s
        async with db.execute(Q["get_pause"], {"quota": spend.quota}) as cur:
            row = await cur.fetchone()
        paused = float(row[0]) if row else None
        if spend.amount is None:
            async with db.execute(Q["quota_spent"], {"quota": spend.quota, "since": since}) as cur:
                spent = [float(r[0]) for r in await cur.fetchall()]
            granted = quota.grant(spent, spec, now, len(jobs), paused_until=paused)
            wake = None
            if granted < len(jobs):
                wake = quota.next_allowed(
                    [*spent, *[now] * granted], spec, now, paused_until=paused
                )
            return granted, wake, [(spend.quota, now, 1.0)] * granted
        async with db.execute(Q["quota_amounts"], {"quota": spend.quota, "since": since}) as cur:
            amounts_spent = [(float(r[0]), float(r[1])) for r in await cur.fetchall()]
        # Only a job entering the claim's state is charged (one already in it was before).
        amounts = [
            spend.amount(job) if enter is None or job.state != enter else 0.0 for job in jobs
        ]
        granted, wake = quota.fit_amounts(amounts_spent, spec, now, amounts, paused_until=paused)
        limit = spec.effective_limit
        rows = [(spend.quota, now, amount) for amount in amounts[:granted] if 0 < amount <= limit]
        return granted, wake, rows

    async def _usage(
        self,
        db: aiosqlite.Connection,
        spend: Spend,
        now: float,
        charged: list[tuple[float, float]],
    ) -> tuple[float, float]:
        since = now - spend.spec.window_s
        async with db.execute(Q["quota_amounts"], {"quota": spend.quota, "since": since}) as cur:
            rows = [(float(r[0]), float(r[1])) for r in await cur.fetchall()]
        if spend.amount is None:
            used, left = quota.usage(
                [t for t, _ in rows] + [t for t, _ in charged], spend.spec, now
            )
            return float(used), float(left)
        return quota.usage_amount(rows + charged, spend.spec, now)

    async def renew_leases(self, owner: str, job_ids: Sequence[int], until: float) -> int:
        """Extend ``owner``'s leases on ``job_ids`` to ``until``; how many it still held."""
        if not job_ids:
            return 0
        renewed = 0
        async with self._tx() as db:
            for job_id in job_ids:
                async with db.execute(
                    Q["renew_lease"], {"id": job_id, "owner": owner, "until": until}
                ) as cur:
                    renewed += cur.rowcount
        return renewed

    async def recover(self, node: str, now: float) -> int:
        """Release the leases of this node's earlier runs and every expired one. (Under the
        file lock no other daemon is alive, so on one node that is every lease.)"""
        async with (
            self._tx() as db,
            db.execute(Q["recover_leases"], {"node": node, "now": now}) as cur,
        ):
            return cur.rowcount
