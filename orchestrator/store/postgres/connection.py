"""A pool of connections to one PostgreSQL database: transactions, migrations, and the
hold a daemon keeps on its node name."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, Self, TypeAlias
from urllib.parse import urlsplit

import asyncpg

from orchestrator.core.jobs import State
from orchestrator.store.postgres.schema import MIGRATIONS, SCHEMA_VERSION, Q
from orchestrator.store.types import StoreError, StoreLocked

# Connections per daemon: its stages, heartbeat and status page run side by side.
POOL_SIZE = 8
CONNECT_TIMEOUT_S = 10.0
# Every daemon migrating at start takes this lock first, so one migrates and the others
# find the schema up to date.
MIGRATION_LOCK = "speechkit-orchestrator migrations"
# Where the jobs table's triggers announce a job's new state (see 0001_initial.sql).
CHANNEL = "speechkit_orchestrator_jobs"
NODE_LOCK = "speechkit-orchestrator node "

# A pooled connection, inside one transaction (subscripted for the type checker only).
Db: TypeAlias = "asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"

Errors = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


def describe(url: str) -> str:
    """``url`` as logs may show it: user, host, port and database, never a password."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    user = f"{parts.username}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return f"postgresql://{user}{host}{port}{parts.path}"


class Connection:
    """The store's pool. Each method is one transaction on one pooled connection."""

    def __init__(self, pool: asyncpg.Pool, url: str, password: str | None) -> None:
        self._pool = pool
        self._url = url
        self._password = password
        self.description = describe(url)
        self._node_hold: asyncpg.Connection | None = None
        self._listener: asyncpg.Connection | None = None
        self._own_pids: set[int] = set()  # server processes of this store's pool

    @property
    def shared(self) -> bool:
        """Several daemons work on one database: what they learn changes under each."""
        return True

    @classmethod
    async def open(cls, url: str, password: str | None = None) -> Self:
        """Connect to the database at ``url`` and bring its schema up to date."""
        where = describe(url)
        own: set[int] = set()

        async def remember(connection: asyncpg.Connection) -> None:
            # Our own changes wake our stages directly: their notifications are skipped.
            own.add(connection.get_server_pid())

        try:
            pool = await asyncpg.create_pool(
                url,
                password=password,
                min_size=1,
                max_size=POOL_SIZE,
                timeout=CONNECT_TIMEOUT_S,
                init=remember,
            )
        except Errors as exc:
            raise StoreError(f"{where}: cannot connect to the state database: {exc}") from None
        store = cls(pool, url, password)
        store._own_pids = own
        try:
            await store._migrate()
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, Errors):
                raise StoreError(f"{where}: cannot prepare the state database: {exc}") from None
            raise
        return store

    async def _migrate(self) -> None:
        async with self._pool.acquire() as db, db.transaction():
            await db.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", MIGRATION_LOCK
            )
            await db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            version = int(
                await db.fetchval("SELECT COALESCE(max(version), 0) FROM schema_migrations")
            )
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.description}: the state database has schema version {version}, "
                    f"newer than this program's {SCHEMA_VERSION}; upgrade speechkit-orchestrator"
                )
            for number, script in MIGRATIONS:
                if number > version:
                    await db.execute(script)
                    await db.execute("INSERT INTO schema_migrations (version) VALUES ($1)", number)

    @contextlib.asynccontextmanager
    async def _tx(self) -> AsyncIterator[Db]:
        # asyncpg rolls back a transaction whose block is cancelled or raises, and the pool
        # resets (or drops) a connection handed back mid-way.
        async with self._pool.acquire() as db, db.transaction():
            yield db

    async def _run(self, db: Db, query: str, **values: Any) -> int:
        """Execute a named query; how many rows it changed."""
        q = Q[query]
        status = await db.execute(q.text, *q.args(values))
        return _rowcount(status)

    async def _rows(self, db: Db, query: str, **values: Any) -> list[asyncpg.Record]:
        q = Q[query]
        return list(await db.fetch(q.text, *q.args(values)))

    async def _row(self, db: Db, query: str, **values: Any) -> asyncpg.Record | None:
        q = Q[query]
        return await db.fetchrow(q.text, *q.args(values))

    async def _one(self, query: str, **values: Any) -> asyncpg.Record | None:
        q = Q[query]
        return await self._pool.fetchrow(q.text, *q.args(values))

    async def _all(self, query: str, **values: Any) -> list[asyncpg.Record]:
        q = Q[query]
        return list(await self._pool.fetch(q.text, *q.args(values)))

    async def _write(self, query: str, **values: Any) -> int:
        """One statement in a transaction of its own; how many rows it changed."""
        q = Q[query]
        return _rowcount(await self._pool.execute(q.text, *q.args(values)))

    async def acquire(self, node: str = "") -> None:
        """Hold the node name for this daemon's life (a session lock on a connection of
        its own): a second daemon calling itself the same would release the first one's
        leases when it recovers."""
        try:
            hold = await asyncpg.connect(
                self._url, password=self._password, timeout=CONNECT_TIMEOUT_S
            )
        except Errors as exc:
            raise StoreError(f"{self.description}: cannot connect: {exc}") from None
        held = await hold.fetchval(
            "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", NODE_LOCK + node
        )
        if not held:
            await hold.close()
            raise StoreLocked(
                f"{self.description}: another speechkit-orchestrator daemon with the node name "
                f"{node!r} is running on this database; give each daemon its own service.node"
            )
        self._node_hold = hold

    async def watch(self, changed: Callable[[State], None]) -> None:
        """Call ``changed(state)`` for every job state another daemon makes due, LISTENing
        on a connection of its own (this store's own changes are left out: the pipeline
        that made them has woken its stages already)."""

        def heard(_connection: object, pid: int, _channel: str, payload: object) -> None:
            if pid in self._own_pids:
                return
            with contextlib.suppress(ValueError):
                changed(State(str(payload)))

        if self._listener is None:
            try:
                self._listener = await asyncpg.connect(
                    self._url, password=self._password, timeout=CONNECT_TIMEOUT_S
                )
            except Errors as exc:
                raise StoreError(f"{self.description}: cannot connect: {exc}") from None
        await self._listener.add_listener(CHANNEL, heard)

    async def writable(self) -> bool:
        """True while a write transaction succeeds (for /healthz)."""
        try:
            async with self._tx() as db:
                await self._run(db, "kv_set", key="healthz", value="ok")
        except Errors:
            return False
        return True

    async def close(self) -> None:
        """Close the pool and let the node name go."""
        for held in (self._node_hold, self._listener):
            if held is not None:
                with contextlib.suppress(*Errors):
                    await held.close()
        self._node_hold = self._listener = None
        await self._pool.close()


def _rowcount(status: str) -> int:
    """The row count of a command tag ("UPDATE 3", "INSERT 0 1"); 0 when it has none."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0
