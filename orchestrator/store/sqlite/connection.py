"""One SQLite file, one connection: transactions, migrations, the one-daemon file lock."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Self

import aiosqlite

from orchestrator.core.jobs import State
from orchestrator.store.sqlite.schema import MIGRATIONS, SCHEMA_VERSION, Q
from orchestrator.store.types import StoreError, StoreLocked


class Connection:
    """The store's connection. One serves the whole daemon; a lock keeps each method a
    single transaction even when coroutines interleave."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self._lock = asyncio.Lock()
        self.path = path
        self._daemon_lock: int | None = None

    @classmethod
    async def open(cls, path: Path) -> Self:
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
        version = await self._version()
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: the state file has schema version {version}, newer than this "
                f"program's {SCHEMA_VERSION}; upgrade speechkit-orchestrator"
            )
        for number, script in MIGRATIONS:
            if number <= version:
                continue
            # executescript commits; the version bump is inside the same script run.
            try:
                await self._db.executescript(
                    f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
                )
            except sqlite3.Error:
                # Another process opening the same file at the same moment (a daemon and
                # a `status` started together) may have applied it while this one waited
                # for the write lock: then it is done, not broken.
                await self._rollback()
                if await self._version() < number:
                    raise
            version = number

    async def _version(self) -> int:
        async with self._db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

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

    @property
    def description(self) -> str:
        """Where the store is, for logs."""
        return str(self.path)

    @property
    def shared(self) -> bool:
        """One daemon per file (its lock says so): nobody else changes what it learned."""
        return False

    async def acquire(self, node: str = "") -> None:
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

    async def writable(self) -> bool:
        """True while a write transaction succeeds (for /healthz)."""
        try:
            async with self._tx() as db:
                await db.execute(Q["kv_set"], {"key": "healthz", "value": "ok"})
        except sqlite3.Error:
            return False
        return True

    async def close(self) -> None:
        """Close the connection and release the daemon lock."""
        await self._db.close()
        if self._daemon_lock is not None:
            os.close(self._daemon_lock)
            self._daemon_lock = None
