"""One SQLite file, one connection: statements, transactions, migrations, the one-daemon
file lock, and SQLite's side of the dialect's differences (claims walk ``jobs_claim`` once
per (priority, state, API); a write transaction holds the whole file, so there is nothing
more to lock)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import aiosqlite

from orchestrator.core.jobs import Job, State
from orchestrator.core.quota import Pause
from orchestrator.store.connector import Session
from orchestrator.store.rows import Row, row_to_job
from orchestrator.store.sqlite.schema import MIGRATIONS, SCHEMA_VERSION, Q
from orchestrator.store.types import Affinity, Claim, StoreError, StoreLocked


def statements(script: str) -> Iterator[str]:
    """The statements of a migration script, one at a time (comments kept with the
    statement they precede; a trailing comment alone is no statement)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""


def _bind(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as SQLite binds them: a list (a set of values) as JSON text."""
    return {k: json.dumps(v) if isinstance(v, list | tuple) else v for k, v in params.items()}


class SQLiteSession:
    """Statements on the connection (inside a transaction, or each on its own)."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def execute(self, query: str, **params: Any) -> int:
        """Run a named query (a list bound as JSON text); how many rows it changed."""
        return await self.execute_sql(Q[query], params)

    async def execute_many(
        self, query: str, rows: Sequence[Mapping[str, Any]], **shared: Any
    ) -> int:
        """Run a named query once per row (``shared`` beside each); rows changed."""
        if not rows:
            return 0
        common = _bind(shared)
        async with self._db.executemany(Q[query], [{**common, **row} for row in rows]) as cur:
            return cur.rowcount

    async def execute_sql(self, sql: str, params: Mapping[str, Any]) -> int:
        """Run a statement (``:name`` parameters); how many rows it changed."""
        async with self._db.execute(sql, _bind(params)) as cur:
            return cur.rowcount

    async def fetch_one(self, query: str, **params: Any) -> Row | None:
        """The first row of a named query (a list bound as JSON text), if any."""
        async with self._db.execute(Q[query], _bind(params)) as cur:
            row: Row | None = await cur.fetchone()
            return row

    async def fetch_all(self, query: str, **params: Any) -> list[Row]:
        """Every row of a named query (a list bound as JSON text)."""
        async with self._db.execute(Q[query], _bind(params)) as cur:
            return list(await cur.fetchall())


class SQLiteConnector:
    """The store's connection. One serves the whole daemon; a lock keeps each statement
    or transaction whole even when coroutines interleave."""

    errors: tuple[type[BaseException], ...] = (sqlite3.Error,)

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self._session = SQLiteSession(db)
        self._lock = asyncio.Lock()
        self.path = path
        self.description = str(path)
        self._daemon_lock: int | None = None

    @property
    def shared(self) -> bool:
        """One daemon per file (its lock says so): nobody else changes what it learned."""
        return False

    @classmethod
    async def open(cls, path: Path) -> Self:
        """Open (creating if needed) the file at ``path`` and bring its schema up to date."""
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # Webhook tokens and every transcript are in it: the daemon's alone, whatever
            # the umask (SQLite gives its -wal and -shm files the same mode).
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
        except OSError as exc:
            raise StoreError(f"{path}: cannot create the state file: {exc.strerror}") from exc
        try:
            db = await aiosqlite.connect(path, timeout=30.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: cannot open the state file: {exc}") from exc
        db.row_factory = aiosqlite.Row
        connector = cls(db, path)
        try:
            await connector._prepare()
        except (sqlite3.Error, StoreError) as exc:
            await db.close()
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"{path}: not a usable state file: {exc}") from exc
        return connector

    async def _prepare(self) -> None:
        for pragma in ("busy_timeout = 30000", "journal_mode = WAL", "synchronous = FULL"):
            await self._db.execute(f"PRAGMA {pragma}")
        await self._db.execute("PRAGMA foreign_keys = ON")
        version = await self._version()
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: the state file has schema version {version}, newer than this "
                f"program's {SCHEMA_VERSION}; upgrade speechkit-orchestrator"
            )
        for number, script in MIGRATIONS:
            if number > version:
                await self._migrate(number, script)

    async def _migrate(self, number: int, script: str) -> None:
        """Apply migration ``number`` unless it is applied already: the version is read
        inside the write lock, so of processes opening a new file at once (a daemon and a
        `status` started together) exactly one applies each migration, and none applies
        one again after another went past it (a repeatable one would set the version back)."""
        await self._db.execute("BEGIN IMMEDIATE")
        try:
            if await self._version() < number:
                for statement in statements(script):
                    await self._db.execute(statement)
                await self._db.execute(f"PRAGMA user_version = {number}")
            await self._db.execute("COMMIT")
        except BaseException:
            await asyncio.shield(self._rollback())
            raise

    async def _version(self) -> int:
        async with self._db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Session]:
        """One write transaction (``BEGIN IMMEDIATE``: the file's write lock from the start)."""
        # The statements run on aiosqlite's thread in order; a caller cancelled mid-way
        # (a drain timeout) must still leave the connection outside any transaction, so
        # the end of the transaction is shielded and a cancelled BEGIN is rolled back.
        async with self._lock:
            try:
                await self._db.execute("BEGIN IMMEDIATE")
                yield self._session
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

    # Statements on their own: a write in a transaction of its own, a read as it stands.

    async def execute(self, query: str, **params: Any) -> int:
        """Run a named query in a transaction of its own; rows changed."""
        async with self.transaction() as tx:
            return await tx.execute(query, **params)

    async def execute_many(
        self, query: str, rows: Sequence[Mapping[str, Any]], **shared: Any
    ) -> int:
        """Run a named query per row, all in one transaction; rows changed."""
        async with self.transaction() as tx:
            return await tx.execute_many(query, rows, **shared)

    async def execute_sql(self, sql: str, params: Mapping[str, Any]) -> int:
        """Run a statement in a transaction of its own; rows changed."""
        async with self.transaction() as tx:
            return await tx.execute_sql(sql, params)

    async def fetch_one(self, query: str, **params: Any) -> Row | None:
        """The first row of a named query, read outside a transaction (under the lock)."""
        async with self._lock:
            return await self._session.fetch_one(query, **params)

    async def fetch_all(self, query: str, **params: Any) -> list[Row]:
        """Every row of a named query, read outside a transaction (under the lock)."""
        async with self._lock:
            return await self._session.fetch_all(query, **params)

    # The dialect's differences.

    def apis(self, apis: Sequence[str] | None) -> list[str] | None:
        """The API filter: None reads as any API."""
        return None if apis is None else list(apis)

    async def lock(self, tx: Session, key: str) -> None:
        """Nothing to do: the write transaction holds the whole file."""

    async def lock_quotas(self, tx: Session, names: Sequence[str]) -> Mapping[str, float | None]:
        """Nothing to do (the write transaction holds the file); the pauses are read later,
        only by a claim that found jobs."""
        return {}

    async def locked_pause(self, tx: Session, quota: str) -> Pause | None:
        """``quota``'s pause (the write transaction holds the file)."""
        row = await tx.fetch_one("get_pause", quota=quota)
        return Pause(float(row[0]), int(row[1])) if row else None

    async def note_classes(self, tx: Session, classes: Sequence[tuple[int, str]]) -> None:
        """Keep the (priority, API) pairs that claims walk ``jobs_claim`` for."""
        for priority, api in classes:
            await tx.execute("add_job_class", priority=priority, api=api)

    async def due(self, tx: Session, claim: Claim, limit: int, now: float) -> list[Job]:
        """Up to ``limit`` due, unleased jobs: one index walk per (priority, state, API),
        each stopping after ``limit`` rows, so the cost does not grow with the backlog.
        (One daemon per file: every job is its own, whatever ``claim.affinity`` says.)"""
        found: list[tuple[int, float, int]] = []
        for priority, api in await _classes(tx, claim.apis):
            if len(found) >= limit and found[limit - 1][0] > priority:
                break  # the lower priorities come after everything found already
            for state in claim.states:
                rows = await tx.fetch_all(
                    "due_ids", state=state.value, api=api, priority=priority, now=now, limit=limit
                )
                found.extend((priority, row[1], row[0]) for row in rows)
            found.sort(key=lambda item: (-item[0], item[1], item[2]))
            del found[limit:]
        if not found:
            return []
        rows = await tx.fetch_all("jobs_by_ids", ids=[job_id for _, _, job_id in found])
        by_id = {row["id"]: row_to_job(row) for row in rows}
        return [by_id[job_id] for _, _, job_id in found if job_id in by_id]

    async def next_due(
        self,
        states: Sequence[State],
        now: float,
        apis: Sequence[str] | None,
        affinity: Affinity | None,
    ) -> float | None:
        """The first unleased job of each (priority, state, API) through ``jobs_claim``,
        and the first lease to run out. (One daemon per file: ``affinity`` is ignored.)"""
        times: list[float] = []
        async with self._lock:
            tx = self._session
            for priority, api in await _classes(tx, apis):
                for state in states:
                    row = await tx.fetch_one(
                        "next_unleased", state=state.value, api=api, priority=priority, now=now
                    )
                    if row is not None:
                        times.append(float(row[0]))
            states_ = [s.value for s in states]
            row = await tx.fetch_one(
                "next_lease_end", states=states_, apis=self.apis(apis), now=now
            )
            if row is not None and row[0] is not None:
                times.append(float(row[0]))
        return min(times) if times else None

    def duplicate_leader(self, exc: BaseException) -> bool:
        """An IntegrityError naming the columns of the unique index ``jobs_one_leader``."""
        return isinstance(exc, sqlite3.IntegrityError) and "jobs.content_hash" in str(exc)

    # The daemon's hold.

    async def acquire(self, node: str) -> None:
        """Make sure no second daemon works on the same state file (released on close),
        whatever its node."""
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

    async def watch(self, changed: Callable[[State], None]) -> None:
        """One daemon per file: nobody else changes a job, so ``changed`` is never called."""

    async def close(self) -> None:
        """Close the connection and release the daemon lock."""
        await self._db.close()
        if self._daemon_lock is not None:
            os.close(self._daemon_lock)
            self._daemon_lock = None


async def _classes(tx: Session, apis: Sequence[str] | None) -> list[tuple[int, str]]:
    """The (priority, API) pairs jobs have, highest priority first; of ``apis`` only."""
    rows = [(int(row[0]), str(row[1])) for row in await tx.fetch_all("job_classes")]
    return [(p, a) for p, a in rows if apis is None or a in apis]
