"""The PostgreSQL state store: several daemons, one per node, on one database."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import aclosing
from typing import Any

import asyncpg

from orchestrator.core import jsontext
from orchestrator.core.constants import APIS
from orchestrator.core.hooks import Hook, OnFinish
from orchestrator.core.jobs import Job, ManifestStatus, State
from orchestrator.core.quota import Pause
from orchestrator.core.refs import is_object_uri
from orchestrator.core.settings import RecognitionSettings
from orchestrator.store.batches import batches
from orchestrator.store.postgres.claims import Claims, affinity_params
from orchestrator.store.postgres.connection import Db
from orchestrator.store.postgres.hooks import Hooks
from orchestrator.store.postgres.schema import SCHEMA_VERSION
from orchestrator.store.rows import (
    JOB_FIELDS,
    delivery_rows,
    on_finish_json,
    options_json,
    row_to_job,
    settings_json,
    to_column,
)
from orchestrator.store.types import (
    Affinity,
    DuplicateRecognition,
    JobUpdate,
    ManifestConflict,
    NewJob,
    StoreError,
)

__all__ = ["SCHEMA_VERSION", "PostgresStore"]


class PostgresStore(Claims, Hooks):
    """The store in a PostgreSQL database. Use ``await PostgresStore.open(url, password)``."""

    async def add_manifest(
        self,
        name: str,
        path: str,
        digest: str,
        jobs: Iterable[NewJob],
        now: float,
        node: str = "",
        on_finish: OnFinish | None = None,
    ) -> tuple[int, bool]:
        """Insert a manifest taken in on ``node`` and its jobs (and its own completion
        hooks); (id, False) when the same
        file was already taken (by any daemon: two racing on one inbox take it once).
        ``jobs`` is consumed in batches (each pulled in a worker thread while the one
        before is inserted: a manifest's expansion may walk a directory of 100,000
        files); an exception it raises rolls it all back."""
        async with self._tx() as db:
            # Two daemons reading the same file from a shared inbox take turns here; the
            # second finds the first one's row by its digest.
            await self._run(db, "lock_manifest_name", name=name)
            row = await self._row(db, "manifest_by_digest", digest=digest)
            if row is not None and row["name"] == name:
                return int(row["id"]), False
            if await self._row(db, "active_manifest_by_name", name=name) is not None:
                raise ManifestConflict(
                    f"a manifest named {name!r} is still being processed; wait for it to "
                    "finish, cancel it, or give the new manifest another name"
                )
            inserted = await self._row(
                db, "insert_manifest", name=name, path=path, digest=digest, node=node, now=now
            )
            assert inserted is not None
            manifest_id = int(inserted["id"])
            if on_finish is not None:
                await self._run(
                    db,
                    "set_manifest_on_finish",
                    id=manifest_id,
                    on_finish=on_finish_json(on_finish),
                )
            encoded: dict[RecognitionSettings, tuple[str, str]] = {}  # settings -> json, key
            async with aclosing(batches(jobs)) as stream:
                async for batch in stream:
                    for job in batch:
                        if job.settings not in encoded:
                            encoded[job.settings] = (
                                settings_json(job.settings),
                                job.settings.key(),
                            )
                    await self._run(
                        db,
                        "insert_jobs",
                        manifest_id=manifest_id,
                        node=node,
                        now=now,
                        sources=[job.source for job in batch],
                        outputs=[job.output for job in batch],
                        settings=[encoded[job.settings][0] for job in batch],
                        settings_keys=[encoded[job.settings][1] for job in batch],
                        apis=[job.settings.api for job in batch],
                        priorities=[job.priority for job in batch],
                        locals=[not is_object_uri(job.source) for job in batch],
                        output_options=[options_json(job.options) for job in batch],
                    )
            return manifest_id, True

    async def update_job(
        self,
        job_id: int,
        expect: State | None,
        fields: JobUpdate,
        now: float,
        *,
        keep_lease: bool = False,
    ) -> bool:
        """Change one job in one row update; False if its state had moved on.

        The lease is dropped unless ``keep_lease`` (the step goes on after the update).
        """
        unknown = set(fields) - JOB_FIELDS
        if unknown:
            raise ValueError(f"not job fields: {sorted(unknown)}")
        values: list[Any] = [job_id, now]
        sets = []
        for key, value in fields.items():
            values.append(to_column(value))
            sets.append(f"{key} = ${len(values)}")
        sets.append("updated_at = $2")
        if not keep_lease:
            sets.append("lease_owner = NULL, lease_until = NULL")
        sql = f"UPDATE jobs SET {', '.join(sets)} WHERE id = $1"
        if expect is not None:
            values.append(expect.value)
            sql += f" AND state = ${len(values)}"
        try:
            status = await self._pool.execute(sql, *values)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "jobs_one_leader":
                raise DuplicateRecognition(str(exc)) from exc
            raise
        return status.endswith(" 1")

    async def get_job(self, job_id: int) -> Job | None:
        """One job by id."""
        row = await self._one("job_by_id", id=job_id)
        return row_to_job(row) if row else None

    async def jobs_in(self, states: Sequence[State]) -> list[Job]:
        """Every job in ``states``."""
        rows = await self._all("jobs_in_states", states=[s.value for s in states])
        return [row_to_job(row) for row in rows]

    async def next_due(
        self,
        states: Sequence[State],
        now: float,
        apis: Sequence[str] | None = None,
        affinity: Affinity | None = None,
    ) -> float | None:
        """When the earliest unleased job in ``states`` (of ``apis``, that ``affinity``
        lets this daemon take) becomes due."""
        row = await self._one(
            "next_due",
            states=[s.value for s in states],
            apis=list(APIS if apis is None else apis),
            now=now,
            **affinity_params(affinity),
        )
        return None if row is None or row[0] is None else float(row[0])

    async def count(self, states: Sequence[State]) -> int:
        """Jobs in ``states``."""
        row = await self._one("count_states", states=[s.value for s in states])
        return int(row[0]) if row else 0

    async def any_in(self, states: Sequence[State]) -> bool:
        """True when some job is in one of ``states``."""
        return await self._one("any_in_states", states=[s.value for s in states]) is not None

    async def find_leader(self, job: Job, content_hash: str) -> Job | None:
        """Another active job recognising the same content with the same settings."""
        row = await self._one(
            "find_leader", content_hash=content_hash, settings_key=job.settings_key, id=job.id
        )
        return row_to_job(row) if row else None

    async def object_in_use(self, object_key: str, job_id: int) -> bool:
        """True when another job still needs the stored object ``object_key``."""
        return await self._one("object_in_use", object_key=object_key, id=job_id) is not None

    async def release_followers(self, leader_id: int, to: State, now: float) -> int:
        """Move the jobs waiting on ``leader_id`` to ``to``; how many moved."""
        return await self._write("release_followers", leader_id=leader_id, state=to.value, now=now)

    async def get_result(self, content_hash: str, settings_key: str) -> tuple[str, Any] | None:
        """A recognition already done: (operation id, cached payload)."""
        row = await self._one("get_result", content_hash=content_hash, settings_key=settings_key)
        return (row["operation_id"], jsontext.loads(row["response"])) if row else None

    async def put_result(
        self, content_hash: str, settings_key: str, operation_id: str, payload: Any, now: float
    ) -> None:
        """Remember a finished recognition for reuse."""
        await self._write(
            "put_result",
            content_hash=content_hash,
            settings_key=settings_key,
            operation_id=operation_id,
            response=jsontext.dumps(payload),
            now=now,
        )

    async def quota_spent(self, quota: str, since: float) -> list[float]:
        """Times of the requests spent against ``quota`` after ``since``, oldest first."""
        rows = await self._all("quota_spent", quota=quota, since=since)
        return [float(row[0]) for row in rows]

    async def quota_amounts(self, quota: str, since: float) -> list[tuple[float, float]]:
        """``(time, amount)`` of what was spent against ``quota`` after ``since``."""
        rows = await self._all("quota_amounts", quota=quota, since=since)
        return [(float(row[0]), float(row[1])) for row in rows]

    async def prune_quota(self, quota: str, before: float) -> None:
        """Forget ``quota``'s ledger entries too old to matter."""
        await self._write("prune_quota", quota=quota, before=before)

    async def pause_quota(self, quota: str, change: Callable[[Pause | None], Pause]) -> Pause:
        """Replace ``quota``'s pause with ``change(current)`` under the quota's row lock,
        so daemons count its 429s in a row together; every claim reads the pause under
        that lock too. A pause never shortens."""
        async with self._tx() as db:
            await self._run(db, "ensure_quotas", names=[quota])
            row = await self._row(db, "lock_pause", quota=quota)
            current = None
            if row is not None and row["paused_until"] is not None:
                current = Pause(float(row["paused_until"]), int(row["strikes"]))
            pause = change(current)
            await self._run(db, "set_pause", quota=quota, until=pause.until, strikes=pause.strikes)
        return pause

    async def quota_paused_until(self, quota: str) -> float | None:
        """The pause deadline of ``quota``, if any."""
        row = await self._one("get_pause", quota=quota)
        return None if row is None or row[0] is None else float(row[0])

    async def manifests(self) -> list[ManifestStatus]:
        """Every manifest with its job counts."""
        found: dict[int, ManifestStatus] = {}
        for row in await self._all("manifest_counts"):
            status = found.get(row["id"])
            if status is None:
                status = found[row["id"]] = ManifestStatus(
                    id=row["id"],
                    name=row["name"],
                    path=row["path"],
                    state=row["state"],
                    created_at=row["created_at"],
                    finished_at=row["finished_at"],
                    report_path=row["report_path"],
                    digest=row["digest"],
                    node=row["node"],
                )
            if row["job_state"] is not None:
                status.counts[row["job_state"]] = int(row["n"])
        return list(found.values())

    async def manifest_jobs(self, manifest_id: int) -> list[Job]:
        """The jobs of one manifest."""
        rows = await self._all("manifest_jobs", manifest_id=manifest_id)
        return [row_to_job(row) for row in rows]

    async def recent_failures(self, limit: int) -> list[Job]:
        """The ``limit`` jobs that failed last, newest first."""
        return [row_to_job(row) for row in await self._all("recent_failures", limit=limit)]

    async def manifests_to_finish(self, node: str | None = None) -> list[int]:
        """Active manifests (taken in on ``node``, when given) whose jobs have all ended."""
        return [int(row[0]) for row in await self._all("manifests_to_finish", node=node)]

    async def finish_manifest(
        self,
        manifest_id: int,
        report_path: str,
        path: str,
        now: float,
        hooks: Sequence[Hook] = (),
    ) -> None:
        """Mark a manifest finished, with where its report and file went, and add a pending
        delivery for each of ``hooks`` in the same transaction."""
        async with self._tx() as db:
            await self._run(
                db, "finish_manifest", id=manifest_id, report_path=report_path, path=path, now=now
            )
            for row in delivery_rows(manifest_id, hooks, now):
                await self._run(db, "insert_hook_delivery", **row)

    async def _latest_manifest(self, db: Db, name: str) -> asyncpg.Record:
        row = await self._row(db, "latest_manifest_by_name", name=name)
        if row is None:
            raise StoreError(f"no manifest named {name!r} in {self.description}")
        return row

    async def retry_manifest(self, name: str, now: float) -> int:
        """Queue the failed and cancelled jobs of the latest manifest ``name`` again."""
        async with self._tx() as db:
            row = await self._latest_manifest(db, name)
            changed = await self._run(db, "retry_jobs", manifest_id=row["id"], now=now)
            if changed:
                await self._run(db, "reopen_manifest", id=row["id"])
            return changed

    async def cancel_manifest(self, name: str, now: float) -> int:
        """Cancel every job of the latest manifest ``name`` that has not ended."""
        async with self._tx() as db:
            row = await self._latest_manifest(db, name)
            return await self._run(db, "cancel_jobs", manifest_id=row["id"], now=now)

    async def counts_by_state(self) -> dict[str, int]:
        """All jobs counted by state."""
        return {row[0]: int(row[1]) for row in await self._all("counts_by_state")}

    async def kv_get(self, key: str) -> str | None:
        """A small stored value."""
        row = await self._one("kv_get", key=key)
        return str(row[0]) if row else None

    async def kv_set(self, key: str, value: str) -> None:
        """Store a small value."""
        await self._write("kv_set", key=key, value=value)

    async def kv_update(self, key: str, change: Callable[[str | None], str]) -> str:
        """Replace the value of ``key`` with ``change(current)`` in one transaction; daemons
        updating the same key take turns (a lock on the key), so each merges into what the
        previous one wrote."""
        async with self._tx() as db:
            await self._run(db, "kv_lock", key=key)
            row = await self._row(db, "kv_get", key=key)
            value = change(None if row is None else str(row[0]))
            await self._run(db, "kv_set", key=key, value=value)
        return value

    async def kv_prefix(self, prefix: str) -> dict[str, str]:
        """Every stored value whose key starts with ``prefix``."""
        return {str(row[0]): str(row[1]) for row in await self._all("kv_prefix", prefix=prefix)}
