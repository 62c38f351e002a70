"""The SQLite state store: WAL mode, versioned schema, SQL kept in .sql files."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import json
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from orchestrator.core import quota
from orchestrator.core.audio import AudioFacts
from orchestrator.core.jobs import Job, ManifestStatus, State
from orchestrator.core.settings import RecognitionSettings
from orchestrator.store.base import (
    Claim,
    Claimed,
    DuplicateRecognition,
    JobUpdate,
    ManifestConflict,
    NewJob,
    Spend,
    StoreError,
)

_JOB_FIELDS = frozenset(
    {
        "state",
        "attempts",
        "next_action_at",
        "content_hash",
        "audio",
        "object_key",
        "operation_id",
        "submitted_at",
        "submissions",
        "polls",
        "last_poll_at",
        "leader_id",
        "error",
        "finished_at",
    }
)


# Counters a claim may increment for the jobs entering its state.
_COUNTERS = frozenset({"submissions", "attempts", "polls"})


_SQL = resources.files("orchestrator.store.sqlite").joinpath("sql")


def _load_queries() -> dict[str, str]:
    text = _SQL.joinpath("queries.sql").read_text("utf-8")
    queries: dict[str, str] = {}
    for block in re.split(r"^-- name: ", text, flags=re.M)[1:]:
        name, _, body = block.partition("\n")
        queries[name.strip()] = body.strip()
    return queries


def _migrations() -> list[tuple[int, str]]:
    found = []
    for entry in _SQL.iterdir():
        match = re.fullmatch(r"(\d{4})_[a-z0-9_]+\.sql", entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text("utf-8")))
    return sorted(found)


Q = _load_queries()
MIGRATIONS = _migrations()
SCHEMA_VERSION = MIGRATIONS[-1][0]


class StoreLocked(StoreError):
    """Another daemon already runs on this state file."""


def _row_to_job(row: aiosqlite.Row) -> Job:
    audio = row["audio"]
    return Job(
        id=row["id"],
        manifest_id=row["manifest_id"],
        manifest_name=row["manifest_name"],
        source=row["source"],
        output=row["output"],
        settings=RecognitionSettings.from_dict(json.loads(row["settings"])),
        settings_key=row["settings_key"],
        priority=row["priority"],
        state=State(row["state"]),
        attempts=row["attempts"],
        next_action_at=row["next_action_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        content_hash=row["content_hash"],
        audio=AudioFacts.from_json(audio) if audio else None,
        object_key=row["object_key"],
        operation_id=row["operation_id"],
        submitted_at=row["submitted_at"],
        submissions=row["submissions"],
        polls=row["polls"],
        last_poll_at=row["last_poll_at"],
        leader_id=row["leader_id"],
        error=row["error"],
        finished_at=row["finished_at"],
    )


def _to_column(value: Any) -> Any:
    if isinstance(value, State):
        return value.value
    if isinstance(value, AudioFacts):
        return value.to_json()
    return value


class SQLiteStore:
    """The store in one SQLite file. Use ``await SQLiteStore.open(path)``.

    One connection serves the whole daemon; a lock keeps each method a single
    transaction even when coroutines interleave.
    """

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self._lock = asyncio.Lock()
        self.path = path
        self._daemon_lock: int | None = None

    @classmethod
    async def open(cls, path: Path) -> SQLiteStore:
        """Open (creating if needed) the store at ``path`` and bring its schema up to date."""
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = await aiosqlite.connect(path, timeout=30.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: cannot open the state file: {exc}") from exc
        db.row_factory = aiosqlite.Row
        store = cls(db, path)
        try:
            await store._prepare()
        except (sqlite3.Error, StoreError) as exc:
            await db.close()
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"{path}: not a usable state file: {exc}") from exc
        return store

    async def _prepare(self) -> None:
        await self._db.execute("PRAGMA busy_timeout = 30000")
        await self._db.execute("PRAGMA journal_mode = WAL")
        await self._db.execute("PRAGMA synchronous = FULL")
        await self._db.execute("PRAGMA foreign_keys = ON")
        async with self._db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: the state file has schema version {version}, newer than this "
                f"program's {SCHEMA_VERSION}; upgrade speechkit-orchestrator"
            )
        for number, script in MIGRATIONS:
            if number <= version:
                continue
            # executescript commits; the version bump is inside the same script run.
            await self._db.executescript(
                f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
            )

    def acquire_daemon_lock(self) -> None:
        """Make sure no second daemon works on the same state file (released on exit)."""
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreLocked(
                f"{self.path}: another speechkit-orchestrator daemon is running on this state file"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._daemon_lock = fd

    @contextlib.asynccontextmanager
    async def _tx(self) -> AsyncIterator[aiosqlite.Connection]:
        # The statements run on aiosqlite's thread in order; a caller cancelled mid-way
        # (a drain timeout) must still leave the connection outside any transaction, so
        # the end of the transaction is shielded and a cancelled BEGIN is rolled back.
        async with self._lock:
            try:
                await self._db.execute("BEGIN IMMEDIATE")
                yield self._db
            except BaseException:
                await asyncio.shield(self._rollback())
                raise
            else:
                await asyncio.shield(self._db.execute("COMMIT"))

    async def _rollback(self) -> None:
        try:
            await self._db.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            if "no transaction is active" not in str(exc):
                raise

    async def _one(self, query: str, params: dict[str, Any]) -> aiosqlite.Row | None:
        async with self._lock, self._db.execute(Q[query], params) as cur:
            return await cur.fetchone()

    async def _all(self, query: str, params: dict[str, Any]) -> list[aiosqlite.Row]:
        async with self._lock, self._db.execute(Q[query], params) as cur:
            return list(await cur.fetchall())

    # Manifests and jobs -------------------------------------------------------

    async def add_manifest(
        self, name: str, path: str, digest: str, jobs: Sequence[NewJob], now: float
    ) -> tuple[int, bool]:
        """Insert a manifest and its jobs; (id, False) when the same file was already taken."""
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
            await db.executemany(
                Q["insert_job"],
                [
                    {
                        "manifest_id": manifest_id,
                        "source": job.source,
                        "output": job.output,
                        "settings": json.dumps(job.settings.to_dict(), sort_keys=True),
                        "settings_key": job.settings.key(),
                        "priority": job.priority,
                        "now": now,
                    }
                    for job in jobs
                ],
            )
            return manifest_id, True

    async def claim(self, claim: Claim, owner: str, now: float) -> Claimed:
        """Lease up to ``claim.limit`` due jobs, earliest due first within priority; grant
        and spend ``claim.spends`` and enter ``claim.enter``, all in one transaction."""
        if claim.limit <= 0:
            return Claimed([], frozenset(), {})
        async with self._tx() as db:
            params = {
                "states": json.dumps([s.value for s in claim.states]),
                "now": now,
                "limit": claim.limit,
            }
            async with db.execute(Q["select_due"], params) as cur:
                jobs = [_row_to_job(row) for row in await cur.fetchall()]
            held: dict[str, float] = {}
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
                if count is not None and count not in _COUNTERS:
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
        unknown = set(fields) - _JOB_FIELDS
        if unknown:
            raise ValueError(f"not job fields: {sorted(unknown)}")
        values: dict[str, Any] = {key: _to_column(value) for key, value in fields.items()}
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
        return _row_to_job(row) if row else None

    async def jobs_in(self, states: Sequence[State]) -> list[Job]:
        """Every job in ``states``."""
        rows = await self._all("jobs_in_states", {"states": json.dumps([s.value for s in states])})
        return [_row_to_job(row) for row in rows]

    async def next_due(self, states: Sequence[State], now: float) -> float | None:
        """When the earliest unleased job in ``states`` becomes due."""
        row = await self._one(
            "next_due", {"states": json.dumps([s.value for s in states]), "now": now}
        )
        return None if row is None or row[0] is None else float(row[0])

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
        return _row_to_job(row) if row else None

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
        return (row["operation_id"], json.loads(row["response"])) if row else None

    async def put_result(
        self, content_hash: str, settings_key: str, operation_id: str, response: Any, now: float
    ) -> None:
        """Remember a finished recognition for reuse."""
        params = {
            "content_hash": content_hash,
            "settings_key": settings_key,
            "operation_id": operation_id,
            "response": json.dumps(response),
            "now": now,
        }
        async with self._tx() as db:
            await db.execute(Q["put_result"], params)

    # Quotas ---------------------------------------------------------------------

    async def quota_spent(self, quota: str, since: float) -> list[float]:
        """Times of the requests spent against ``quota`` after ``since``, oldest first."""
        rows = await self._all("quota_spent", {"quota": quota, "since": since})
        return [float(row[0]) for row in rows]

    async def spend_quota(self, quota: str, times: Sequence[float]) -> None:
        """Record requests spent outside ``claim``."""
        async with self._tx() as db:
            await db.executemany(Q["spend_quota"], [{"quota": quota, "now": t} for t in times])

    async def quota_amounts(self, quota: str, since: float) -> list[tuple[float, float]]:
        """``(time, amount)`` of what was spent against ``quota`` after ``since``."""
        rows = await self._all("quota_amounts", {"quota": quota, "since": since})
        return [(float(row[0]), float(row[1])) for row in rows]

    async def spend_amount(self, quota: str, at: float, amount: float) -> None:
        """Record ``amount`` spent against a quota counted in amounts (audio seconds)."""
        async with self._tx() as db:
            await db.execute(Q["spend_amount"], {"quota": quota, "now": at, "amount": amount})

    async def prune_quota(self, quota: str, before: float) -> None:
        """Forget ``quota``'s ledger entries too old to matter."""
        async with self._tx() as db:
            await db.execute(Q["prune_quota"], {"quota": quota, "before": before})

    async def pause_quota(self, quota: str, until: float) -> None:
        """Spend nothing on ``quota`` before ``until``."""
        async with self._tx() as db:
            await db.execute(Q["set_pause"], {"quota": quota, "until": until})

    async def quota_paused_until(self, quota: str) -> float | None:
        """The pause deadline of ``quota``, if any."""
        row = await self._one("get_pause", {"quota": quota})
        return float(row[0]) if row else None

    # Reporting and operator commands -------------------------------------------

    async def manifests(self) -> list[ManifestStatus]:
        """Every manifest with its job counts."""
        rows = await self._all("manifest_counts", {})
        found: dict[int, ManifestStatus] = {}
        for row in rows:
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
                )
            if row["job_state"] is not None:
                status.counts[row["job_state"]] = int(row["n"])
        return list(found.values())

    async def manifest_jobs(self, manifest_id: int) -> list[Job]:
        """The jobs of one manifest."""
        rows = await self._all("manifest_jobs", {"manifest_id": manifest_id})
        return [_row_to_job(row) for row in rows]

    async def manifests_to_finish(self) -> list[int]:
        """Active manifests whose jobs have all ended."""
        rows = await self._all("unfinished_manifests_without_active_jobs", {})
        return [int(row[0]) for row in rows]

    async def finish_manifest(
        self, manifest_id: int, report_path: str, path: str, now: float
    ) -> None:
        """Mark a manifest finished, with where its report and file went."""
        async with self._tx() as db:
            await db.execute(
                Q["finish_manifest"],
                {"id": manifest_id, "report_path": report_path, "path": path, "now": now},
            )

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

    async def clear_leases(self) -> None:
        """Drop every lease: called at start-up, when this daemon holds the lock."""
        async with self._tx() as db:
            await db.execute(Q["clear_leases"], {})

    async def writable(self) -> bool:
        """True while a write transaction succeeds (for /healthz)."""
        try:
            await self.kv_set("healthz", "ok")
        except sqlite3.Error:
            return False
        return True

    async def close(self) -> None:
        """Close the connection and release the daemon lock."""
        await self._db.close()
        if self._daemon_lock is not None:
            os.close(self._daemon_lock)
            self._daemon_lock = None
