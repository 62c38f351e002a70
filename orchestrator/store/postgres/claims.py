"""Claims shared by several daemons: due jobs locked with SKIP LOCKED and leased, the
quotas they spend granted and spent under a row lock per quota, states entered, all in
one transaction; leases renewed while steps run, and taken back from a daemon that died.

Why no daemon can overspend: a claim that spends a quota first locks that quota's row
(``SELECT ... FOR UPDATE``, every claim in the same name order, so two claims never wait
on each other in a circle), then reads the ledger and writes what it spends before it
commits. The next claim of any daemon on the same quota waits for the lock and, reading
committed rows only after it has it, sees that spend. So grant and spend are one atomic
step per quota across all daemons, unlike a check followed by an insert that two
processes may interleave. A pause after a 429 is a column of the same row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from orchestrator.core.constants import APIS
from orchestrator.core.jobs import Job
from orchestrator.store import grants
from orchestrator.store.postgres.connection import Connection, Db
from orchestrator.store.rows import COUNTERS, row_to_job
from orchestrator.store.types import Affinity, Claim, Claimed


def affinity_params(affinity: Affinity | None) -> dict[str, Any]:
    """The ``:node``/``:every_job`` parameters of a claim or a due-time query."""
    if affinity is None:
        return {"node": None, "every_job": False}
    return {"node": affinity.node, "every_job": affinity.every_job}


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
        apis = list(APIS if claim.apis is None else claim.apis)
        cap_row = f"cap:{','.join(claim.apis or ('any',))}" if claim.cap is not None else None
        async with self._tx() as db:
            locked = sorted({s.quota for s in claim.spends} | ({cap_row} if cap_row else set()))
            paused = await self._lock_quotas(db, locked)
            if claim.clock is not None:
                now = claim.clock()  # the quota rows are ours: the requests' time
            held: dict[str, float] = {}
            limit = claim.limit
            if cap_row is not None and claim.cap is not None and claim.enter is not None:
                # A concurrency cap across daemons: counted under its own row lock.
                inside = await self._row(db, "count_in_state", state=claim.enter.value, apis=apis)
                room = claim.cap - (int(inside[0]) if inside else 0)
                if room < limit:
                    held[cap_row] = now + claim.lease_s
                    limit = room
                if limit <= 0:
                    return Claimed([], frozenset(), {}, held)
            rows = await self._rows(
                db,
                "select_due",
                states=[s.value for s in claim.states],
                apis=apis,
                now=now,
                limit=limit,
                **affinity_params(claim.affinity),
            )
            jobs = [row_to_job(row) for row in rows]
            if len(jobs) < limit:
                held.clear()  # not held back: fewer were due than the cap allowed
            if not jobs:
                return Claimed([], frozenset(), {}, held)  # no quota to read: none spent
            spent = {
                spend.quota: await self._spent(db, spend.quota, now - spend.spec.window_s)
                for spend in claim.spends
            }
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
            ids = [job.id for job in jobs]
            if ids:
                await self._run(db, "lease_jobs", owner=owner, until=now + claim.lease_s, ids=ids)
            if entered:
                assert claim.enter is not None
                bump = f", {count} = {count} + 1" if count else ""
                await db.execute(
                    f"UPDATE jobs SET state = $1, updated_at = $2{bump} "
                    "WHERE id = ANY($3::bigint[])",
                    claim.enter.value,
                    now,
                    sorted(entered),
                )
            if charges:
                await self._run(
                    db,
                    "spend",
                    quotas=[q for q, _, _ in charges],
                    times=[t for _, t, _ in charges],
                    amounts=[a for _, _, a in charges],
                )
        moved = [self._entered(job, claim, now) if job.id in entered else job for job in jobs]
        return Claimed(moved, entered, usage, held)

    async def _lock_quotas(self, db: Db, names: list[str]) -> dict[str, float | None]:
        """Lock the rows of the quotas ``names`` (created when new) until the claim commits;
        the pause of each."""
        if not names:
            return {}
        await self._run(db, "ensure_quotas", names=names)
        rows = await self._rows(db, "lock_quotas", names=names)
        return {row["name"]: row["paused_until"] for row in rows}

    async def _spent(self, db: Db, quota: str, since: float) -> list[tuple[float, float]]:
        rows = await self._rows(db, "quota_amounts", quota=quota, since=since)
        return [(float(row["spent_at"]), float(row["amount"])) for row in rows]

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
        return await self._write("renew_leases", ids=list(job_ids), owner=owner, until=until)

    async def recover(self, node: str, now: float) -> int:
        """Release the leases of this node's earlier runs (no other daemon of the node is
        alive: ``acquire`` holds the node name) and every expired one."""
        return await self._write("recover_leases", node=node, now=now)
