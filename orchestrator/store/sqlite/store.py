"""The SQLite state store: WAL mode, versioned schema, SQL kept in .sql files."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from contextlib import aclosing
from typing import Any

import aiosqlite

from orchestrator.core import jsontext
from orchestrator.core.hooks import Hook, OnFinish
from orchestrator.core.jobs import Job, ManifestStatus, State
from orchestrator.core.quota import Pause
from orchestrator.core.settings import RecognitionSettings
from orchestrator.store.batches import batches
from orchestrator.store.rows import delivery_rows, on_finish_json, options_json
from orchestrator.store.sqlite.claims import Claims
from orchestrator.store.sqlite.hooks import Hooks
from orchestrator.store.sqlite.schema import JOB_FIELDS, SCHEMA_VERSION, Q, row_to_job, to_column
from orchestrator.store.types import (
    Affinity,
    DuplicateRecognition,
    JobUpdate,
    ManifestConflict,
    NewJob,
    StoreError,
)

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]


class SQLiteStore(Claims, Hooks):
    """The store in one SQLite file. Use ``await SQLiteStore.open(path)``."""

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
        """Insert a manifest and its jobs (and its own completion hooks); (id, False) when
        the same file was already taken.

        ``jobs`` is consumed in batches; an exception it raises (a manifest found invalid
        half-way through its expansion) rolls everything back. (One daemon per file:
        ``node`` is not kept, every manifest is that daemon's.)"""
        async with self._tx() as db:
            async with db.execute(Q["manifest_by_digest"], {"digest": digest}) as cur:
                row = await cur.fetchone()
            if row is not None and row["name"] == name:
                return int(row["id"]), False
            async with db.execute(Q["active_manifest_by_name"], {"name": name}) as cur:
                if await cur.fetchone() is not None:
                    raise ManifestConflict(
                        f"a manifest named {name!r} is still being processed; wait for it to "
                        "finish, cancel it, or give the new manifest another name"
                    )
            async with db.execute(
                Q["insert_manifest"], {"name": name, "path": path, "digest": digest, "now": now}
            ) as cur:
                inserted = await cur.fetchone()
            assert inserted is not None
            manifest_id = int(inserted[0])
            if on_finish is not None:
                await db.execute(
                    Q["set_manifest_on_finish"],
                    {"id": manifest_id, "on_finish": on_finish_json(on_finish)},
                )
            await self._insert_jobs(db, manifest_id, jobs, now)
            return manifest_id, True

    async def _insert_jobs(
        self, db: aiosqlite.Connection, manifest_id: int, jobs: Iterable[NewJob], now: float
    ) -> None:
        """Insert jobs in batches, pulling each batch from ``jobs`` in a worker thread
        while the one before is inserted (a manifest's expansion may walk a directory of
        100,000 files)."""
        encoded: dict[RecognitionSettings, tuple[str, str]] = {}  # settings -> (json, key)
        async with aclosing(batches(jobs)) as stream:
            async for batch in stream:
                await self._insert_batch(db, manifest_id, batch, now, encoded)

    async def _insert_batch(
        self,
        db: aiosqlite.Connection,
        manifest_id: int,
        batch: list[NewJob],
        now: float,
        encoded: dict[RecognitionSettings, tuple[str, str]],
    ) -> None:
        """One batch of rows; ``encoded`` keeps each settings' JSON and key, made once."""
        rows = []
        for job in batch:
            settings = job.settings
            if settings not in encoded:
                text = json.dumps(settings.to_dict(), sort_keys=True)
                encoded[settings] = (text, settings.key())
                await db.execute(
                    Q["add_job_class"], {"priority": settings.priority, "api": settings.api}
                )
            text, key = encoded[settings]
            rows.append(
                {
                    "manifest_id": manifest_id,
                    "source": job.source,
                    "output": job.output,
                    "settings": text,
                    "settings_key": key,
                    "api": settings.api,
                    "priority": settings.priority,
                    "output_options": options_json(job.options),
                    "now": now,
                }
            )
        await db.executemany(Q["insert_job"], rows)

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
        values: dict[str, Any] = {key: to_column(value) for key, value in fields.items()}
        sets = ", ".join(f"{key} = :{key}" for key in values)
        release = "" if keep_lease else ", lease_owner = NULL, lease_until = NULL"
        sql = (
            f"UPDATE jobs SET {sets}{', ' if sets else ''}updated_at = :_now{release} "
            "WHERE id = :_id"
        )
        params = {**values, "_now": now, "_id": job_id}
        if expect is not None:
            sql += " AND state = :_expect"
            params["_expect"] = expect.value
        try:
            async with self._tx() as db, db.execute(sql, params) as cur:
                return cur.rowcount == 1
        except sqlite3.IntegrityError as exc:
            if "jobs.content_hash" in str(exc):
                raise DuplicateRecognition(str(exc)) from exc
            raise

    async def get_job(self, job_id: int) -> Job | None:
        """One job by id."""
        row = await self._one("job_by_id", {"id": job_id})
        return row_to_job(row) if row else None

    async def jobs_in(self, states: Sequence[State]) -> list[Job]:
        """Every job in ``states``."""
        rows = await self._all("jobs_in_states", {"states": json.dumps([s.value for s in states])})
        return [row_to_job(row) for row in rows]

    async def next_due(
        self,
        states: Sequence[State],
        now: float,
        apis: Sequence[str] | None = None,
        affinity: Affinity | None = None,
    ) -> float | None:
        """When the earliest job in ``states`` (of ``apis``) becomes due, leases counted.
        (One daemon per file: every job is its own, whatever ``affinity`` says.)"""
        times: list[float] = []
        async with self._lock:
            db = self._db
            for priority, api in await self._classes(db, apis):
                for state in states:
                    params = {"state": state.value, "api": api, "priority": priority, "now": now}
                    async with db.execute(Q["next_unleased"], params) as cur:
                        row = await cur.fetchone()
                    if row is not None:
                        times.append(float(row[0]))
            params_leased = {
                "states": json.dumps([s.value for s in states]),
                "apis": None if apis is None else json.dumps(list(apis)),
                "now": now,
            }
            async with db.execute(Q["next_lease_end"], params_leased) as cur:
                row = await cur.fetchone()
            if row is not None and row[0] is not None:
                times.append(float(row[0]))
        return min(times) if times else None

    async def any_in(self, states: Sequence[State]) -> bool:
        """True when some job is in one of ``states``."""
        found = await self._one("any_in_states", {"states": json.dumps([s.value for s in states])})
        return found is not None

    async def count(self, states: Sequence[State]) -> int:
        """Jobs in ``states``."""
        row = await self._one("count_states", {"states": json.dumps([s.value for s in states])})
        return int(row[0]) if row else 0

    async def find_leader(self, job: Job, content_hash: str) -> Job | None:
        """Another active job recognising the same content with the same settings."""
        row = await self._one(
            "find_leader",
            {"content_hash": content_hash, "settings_key": job.settings_key, "id": job.id},
        )
        return row_to_job(row) if row else None

    async def object_in_use(self, object_key: str, job_id: int) -> bool:
        """True when another job still needs the stored object ``object_key``."""
        return (
            await self._one("object_in_use", {"object_key": object_key, "id": job_id}) is not None
        )

    async def release_followers(self, leader_id: int, to: State, now: float) -> int:
        """Move the jobs waiting on ``leader_id`` to ``to``; how many moved."""
        async with (
            self._tx() as db,
            db.execute(
                Q["release_followers"], {"leader_id": leader_id, "state": to.value, "now": now}
            ) as cur,
        ):
            return cur.rowcount

    async def get_result(self, content_hash: str, settings_key: str) -> tuple[str, Any] | None:
        """A recognition already done: (operation id, response)."""
        row = await self._one(
            "get_result", {"content_hash": content_hash, "settings_key": settings_key}
        )
        return (row["operation_id"], jsontext.loads(row["response"])) if row else None

    async def put_result(
        self, content_hash: str, settings_key: str, operation_id: str, payload: Any, now: float
    ) -> None:
        """Remember a finished recognition for reuse."""
        params = {
            "content_hash": content_hash,
            "settings_key": settings_key,
            "operation_id": operation_id,
            "response": jsontext.dumps(payload),
            "now": now,
        }
        async with self._tx() as db:
            await db.execute(Q["put_result"], params)

    async def quota_spent(self, quota: str, since: float) -> list[float]:
        """Times of the requests spent against ``quota`` after ``since``, oldest first."""
        rows = await self._all("quota_spent", {"quota": quota, "since": since})
        return [float(row[0]) for row in rows]

    async def quota_amounts(self, quota: str, since: float) -> list[tuple[float, float]]:
        """``(time, amount)`` of what was spent against ``quota`` after ``since``."""
        rows = await self._all("quota_amounts", {"quota": quota, "since": since})
        return [(float(row[0]), float(row[1])) for row in rows]

    async def prune_quota(self, quota: str, before: float) -> None:
        """Forget ``quota``'s ledger entries too old to matter."""
        async with self._tx() as db:
            await db.execute(Q["prune_quota"], {"quota": quota, "before": before})

    async def pause_quota(self, quota: str, change: Callable[[Pause | None], Pause]) -> Pause:
        """Replace ``quota``'s pause with ``change(current)`` in one transaction."""
        async with self._tx() as db:
            async with db.execute(Q["get_pause"], {"quota": quota}) as cur:
                row = await cur.fetchone()
            current = Pause(float(row[0]), int(row[1])) if row else None
            pause = change(current)
            await db.execute(
                Q["set_pause"], {"quota": quota, "until": pause.until, "strikes": pause.strikes}
            )
        return pause

    async def quota_paused_until(self, quota: str) -> float | None:
        """The pause deadline of ``quota``, if any."""
        row = await self._one("get_pause", {"quota": quota})
        return float(row[0]) if row else None

    async def manifests(self) -> list[ManifestStatus]:
        """Every manifest with its job counts."""
        found = {
            row["id"]: ManifestStatus(
                id=row["id"],
                name=row["name"],
                path=row["path"],
                state=row["state"],
                created_at=row["created_at"],
                finished_at=row["finished_at"],
                report_path=row["report_path"],
                digest=row["digest"],
            )
            for row in await self._all("all_manifests", {})
        }
        for row in await self._all("manifest_counts", {}):
            status = found.get(row["manifest_id"])
            if status is not None:
                status.counts[row["state"]] = int(row["n"])
        return list(found.values())

    async def manifest_jobs(self, manifest_id: int) -> list[Job]:
        """The jobs of one manifest."""
        rows = await self._all("manifest_jobs", {"manifest_id": manifest_id})
        return [row_to_job(row) for row in rows]

    async def recent_failures(self, limit: int) -> list[Job]:
        """The ``limit`` jobs that failed last, newest first."""
        rows = await self._all("recent_failures", {"limit": limit})
        return [row_to_job(row) for row in rows]

    async def manifests_to_finish(self, node: str | None = None) -> list[int]:
        """Active manifests whose jobs have all ended (every one is this daemon's)."""
        rows = await self._all("unfinished_manifests_without_active_jobs", {})
        return [int(row[0]) for row in rows]

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
            await db.execute(
                Q["finish_manifest"],
                {"id": manifest_id, "report_path": report_path, "path": path, "now": now},
            )
            rows = delivery_rows(manifest_id, hooks, now)
            if rows:
                await db.executemany(Q["insert_hook_delivery"], rows)

    async def _latest_manifest(self, db: aiosqlite.Connection, name: str) -> aiosqlite.Row:
        async with db.execute(Q["latest_manifest_by_name"], {"name": name}) as cur:
            row = await cur.fetchone()
        if row is None:
            raise StoreError(f"no manifest named {name!r} in {self.path}")
        return row

    async def retry_manifest(self, name: str, now: float) -> int:
        """Queue the failed and cancelled jobs of the latest manifest ``name`` again."""
        async with self._tx() as db:
            row = await self._latest_manifest(db, name)
            async with db.execute(Q["retry_jobs"], {"manifest_id": row["id"], "now": now}) as cur:
                changed = cur.rowcount
            if changed:
                await db.execute(Q["reopen_manifest"], {"id": row["id"]})
            return changed

    async def cancel_manifest(self, name: str, now: float) -> int:
        """Cancel every job of the latest manifest ``name`` that has not ended."""
        async with self._tx() as db:
            row = await self._latest_manifest(db, name)
            async with db.execute(Q["cancel_jobs"], {"manifest_id": row["id"], "now": now}) as cur:
                return cur.rowcount

    async def counts_by_state(self) -> dict[str, int]:
        """All jobs counted by state."""
        rows = await self._all("counts_by_state", {})
        return {row[0]: int(row[1]) for row in rows}

    async def kv_get(self, key: str) -> str | None:
        """A small stored value."""
        row = await self._one("kv_get", {"key": key})
        return str(row[0]) if row else None

    async def kv_set(self, key: str, value: str) -> None:
        """Store a small value."""
        async with self._tx() as db:
            await db.execute(Q["kv_set"], {"key": key, "value": value})

    async def kv_update(self, key: str, change: Callable[[str | None], str]) -> str:
        """Replace the value of ``key`` with ``change(current)`` in one transaction."""
        async with self._tx() as db:
            async with db.execute(Q["kv_get"], {"key": key}) as cur:
                row = await cur.fetchone()
            value = change(None if row is None else str(row[0]))
            await db.execute(Q["kv_set"], {"key": key, "value": value})
        return value

    async def kv_prefix(self, prefix: str) -> dict[str, str]:
        """Every stored value whose key starts with ``prefix``."""
        rows = await self._all("kv_prefix", {"prefix": prefix})
        return {str(row[0]): str(row[1]) for row in rows}
