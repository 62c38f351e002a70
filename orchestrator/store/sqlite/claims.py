"""Claims: due jobs leased, quotas granted and spent, states entered, in one transaction;
leases renewed while steps run, and recovered from a daemon that died."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

import aiosqlite

from orchestrator.core.jobs import Job
from orchestrator.store import grants
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
        count = claim.count
        if count is not None and count not in COUNTERS:
            raise ValueError(f"not a job counter: {count}")
        async with self._tx() as db:
            if claim.clock is not None:
                now = claim.clock()  # the write lock is ours: the requests' time
            held: dict[str, float] = {}
            limit = await self._room(db, claim, now, held)
            if limit <= 0:
                return Claimed([], frozenset(), {}, held)
            jobs = await self._due(db, dataclasses.replace(claim, limit=limit), now)
            if len(jobs) < limit:
                held.clear()  # not held back: fewer were due than the cap allowed
            if not jobs:
                return Claimed([], frozenset(), {}, held)  # no quota to read: none spent
            spent = {s.quota: await self._spent(db, s, now) for s in claim.spends}
            paused = {s.quota: await self._paused(db, s.quota) for s in claim.spends}
            granted = len(jobs)
            for spend in claim.spends:
                granted, wake, _ = grants.grant(
                    spend, jobs[:granted], claim.enter, now, spent[spend.quota], paused[spend.quota]
                )
                if wake is not None:
                    held[spend.quota] = wake
            jobs = jobs[:granted]
            # Charged for the jobs every quota let through (a job one quota held back
            # spends nothing on the others).
            charges = [
                charge
                for spend in claim.spends
                for charge in grants.grant(
                    spend, jobs, claim.enter, now, spent[spend.quota], paused[spend.quota]
                )[2]
            ]
            usage = {
                spend.quota: grants.usage(spend, now, spent[spend.quota], charges)
                for spend in claim.spends
            }
            entered = frozenset(
                job.id for job in jobs if claim.enter is not None and job.state != claim.enter
            )
            await db.executemany(
                Q["lease_job"],
                [{"owner": owner, "until": now + claim.lease_s, "id": job.id} for job in jobs],
            )
            if entered:
                assert claim.enter is not None
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
    async def _room(
        db: aiosqlite.Connection, claim: Claim, now: float, held: dict[str, float]
    ) -> int:
        """How many jobs the claim may take: its limit, or fewer when ``claim.cap`` jobs
        of its APIs are in its state already (then ``held`` says when to look again: one
        of them leaving wakes the stage sooner, another daemon's lease at the latest)."""
        if claim.cap is None or claim.enter is None:
            return claim.limit
        apis = None if claim.apis is None else json.dumps(list(claim.apis))
        counted = {"state": claim.enter.value, "apis": apis}
        async with db.execute(Q["count_in_state"], counted) as cur:
            row = await cur.fetchone()
        room = claim.cap - (int(row[0]) if row else 0)
        if room < claim.limit:
            held[f"cap:{','.join(claim.apis or ('any',))}"] = now + claim.lease_s
        return min(claim.limit, room)

    @staticmethod
    async def _spent(
        db: aiosqlite.Connection, spend: Spend, now: float
    ) -> list[tuple[float, float]]:
        """What ``spend``'s quota spent in its window, ``(time, amount)``."""
        since = now - spend.spec.window_s
        async with db.execute(Q["quota_amounts"], {"quota": spend.quota, "since": since}) as cur:
            return [(float(r[0]), float(r[1])) for r in await cur.fetchall()]

    @staticmethod
    async def _paused(db: aiosqlite.Connection, name: str) -> float | None:
        async with db.execute(Q["get_pause"], {"quota": name}) as cur:
            row = await cur.fetchone()
        return float(row[0]) if row else None

    async def _due(self, db: aiosqlite.Connection, claim: Claim, now: float) -> list[Job]:
        """Up to ``claim.limit`` due, unleased jobs: highest priority first, then earliest
        due, then oldest. One index walk per (priority, state, API), each stopping after
        ``limit`` rows, so the cost does not grow with the backlog."""
        found: list[tuple[int, float, int]] = []
        for priority, api in await self._classes(db, claim.apis):
            if len(found) >= claim.limit and found[claim.limit - 1][0] > priority:
                break  # the lower priorities come after everything found already
            for state in claim.states:
                params = {
                    "state": state.value,
                    "api": api,
                    "priority": priority,
                    "now": now,
                    "limit": claim.limit,
                }
                async with db.execute(Q["due_ids"], params) as cur:
                    found.extend((priority, row[1], row[0]) for row in await cur.fetchall())
            found.sort(key=lambda item: (-item[0], item[1], item[2]))
            del found[claim.limit :]
        if not found:
            return []
        ids = json.dumps([job_id for _, _, job_id in found])
        async with db.execute(Q["jobs_by_ids"], {"ids": ids}) as cur:
            by_id = {row["id"]: row_to_job(row) for row in await cur.fetchall()}
        return [by_id[job_id] for _, _, job_id in found if job_id in by_id]

    @staticmethod
    async def _classes(
        db: aiosqlite.Connection, apis: Sequence[str] | None
    ) -> list[tuple[int, str]]:
        """The (priority, API) pairs jobs have, highest priority first; of ``apis`` only."""
        async with db.execute(Q["job_classes"]) as cur:
            rows = [(int(row[0]), str(row[1])) for row in await cur.fetchall()]
        return [(p, a) for p, a in rows if apis is None or a in apis]

    @staticmethod
    def _entered(job: Job, claim: Claim, now: float) -> Job:
        """``job`` as the claim changed it in the store."""
        assert claim.enter is not None
        changes: dict[str, Any] = {"state": claim.enter, "updated_at": now}
        if claim.count:
            changes[claim.count] = getattr(job, claim.count) + 1
        return dataclasses.replace(job, **changes)

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
