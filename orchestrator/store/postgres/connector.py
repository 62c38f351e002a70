"""A pool of connections to one PostgreSQL database shared by several daemons:
transactions, migrations, the hold a daemon keeps on its node name, and PostgreSQL's side of
the dialect's differences (due jobs locked with SKIP LOCKED, a row lock per quota, advisory
locks, LISTEN/NOTIFY wake-ups)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Self
from urllib.parse import urlsplit

import asyncpg

from orchestrator.core.constants import APIS
from orchestrator.core.jobs import Job, State
from orchestrator.core.quota import Pause
from orchestrator.store.connector import Session
from orchestrator.store.postgres.schema import MIGRATIONS, SCHEMA_VERSION
from orchestrator.store.postgres.session import PostgresSession
from orchestrator.store.rows import row_to_job
from orchestrator.store.types import Affinity, Claim, StoreError, StoreLocked

# Connections per daemon: its stages, heartbeat and status page run side by side.
POOL_SIZE = 8
CONNECT_TIMEOUT_S = 10.0
# Every daemon migrating at start takes this lock first, so one migrates and the others
# find the schema up to date.
MIGRATION_LOCK = "speechkit-orchestrator migrations"
# Where the jobs table's triggers announce a job's new state (see 0001_initial.sql).
CHANNEL = "speechkit_orchestrator_jobs"
NODE_LOCK = "speechkit-orchestrator node "

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


def affinity_params(affinity: Affinity | None) -> dict[str, Any]:
    """The ``:node``/``:every_job`` parameters of a claim or a due-time query."""
    if affinity is None:
        return {"node": None, "every_job": False}
    return {"node": affinity.node, "every_job": affinity.every_job}


class PostgresConnector(PostgresSession):
    """The store's pool: a statement on its own runs on the pool (a transaction of its
    own); a transaction holds one pooled connection."""

    errors: tuple[type[BaseException], ...] = Errors

    def __init__(self, pool: asyncpg.Pool, url: str, password: str | None) -> None:
        super().__init__(pool)
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
    async def open(cls, url: str, password: str | None = None, migrate: bool = True) -> Self:
        """Connect to the database at ``url`` and bring its schema up to date; with
        ``migrate`` False (a role that may only read and write rows), check that it is
        up to date instead, and refuse an old one."""
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
            await (store._migrate() if migrate else store._check_schema())
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

    async def _check_schema(self) -> None:
        """Refuse a schema other than this program's, changing nothing (no DDL)."""
        async with self._pool.acquire() as db:
            version = 0
            if await db.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"):
                version = int(
                    await db.fetchval("SELECT COALESCE(max(version), 0) FROM schema_migrations")
                )
        if version < SCHEMA_VERSION:
            raise StoreError(
                f"{self.description}: the state database has schema version {version}, older "
                f"than this program's {SCHEMA_VERSION}, and state.migrate is false: run "
                "`speechkit-orchestrator migrate --config FILE` with the config of a role "
                "that owns the database, then start again"
            )
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.description}: the state database has schema version {version}, "
                f"newer than this program's {SCHEMA_VERSION}; upgrade speechkit-orchestrator"
            )

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Session]:
        """One transaction on one pooled connection."""
        # asyncpg rolls back a transaction whose block is cancelled or raises, and the pool
        # resets (or drops) a connection handed back mid-way.
        async with self._pool.acquire() as db, db.transaction():
            yield PostgresSession(db)

    # The dialect's differences.

    def apis(self, apis: Sequence[str] | None) -> list[str]:
        """Every API by name (None: all): the queries read one index range per API."""
        return list(APIS if apis is None else apis)

    async def lock(self, tx: Session, key: str) -> None:
        """An advisory lock on ``key``, released when the transaction ends."""
        await tx.execute("advisory_lock", key=key)

    async def lock_quotas(self, tx: Session, names: Sequence[str]) -> Mapping[str, float | None]:
        """Lock the rows of the quotas ``names`` (created when new) until the transaction
        ends, in name order; the pause of each."""
        if not names:
            return {}
        await tx.execute("ensure_quotas", names=list(names))
        rows = await tx.fetch_all("lock_quotas", names=list(names))
        return {row["name"]: row["paused_until"] for row in rows}

    async def locked_pause(self, tx: Session, quota: str) -> Pause | None:
        """``quota``'s pause, its row locked (created when new) until the transaction ends."""
        await tx.execute("ensure_quotas", names=[quota])
        row = await tx.fetch_one("lock_pause", quota=quota)
        if row is None or row["paused_until"] is None:
            return None
        return Pause(float(row["paused_until"]), int(row["strikes"]))

    async def note_classes(self, tx: Session, classes: Sequence[tuple[int, str]]) -> None:
        """Nothing to keep: claims find the priorities by skipping through ``jobs_claim``."""

    async def due(self, tx: Session, claim: Claim, limit: int, now: float) -> list[Job]:
        """Up to ``limit`` due, unleased jobs that ``claim.affinity`` lets this daemon take,
        locked with SKIP LOCKED (a job another daemon is claiming is passed over)."""
        rows = await tx.fetch_all(
            "select_due",
            states=[s.value for s in claim.states],
            apis=self.apis(claim.apis),
            now=now,
            limit=limit,
            **affinity_params(claim.affinity),
        )
        return [row_to_job(row) for row in rows]

    async def next_due(
        self,
        states: Sequence[State],
        now: float,
        apis: Sequence[str] | None,
        affinity: Affinity | None,
    ) -> float | None:
        """When the earliest job in ``states`` that ``affinity`` lets this daemon take
        becomes due, leases counted (one query)."""
        row = await self.fetch_one(
            "next_due",
            states=[s.value for s in states],
            apis=self.apis(apis),
            now=now,
            **affinity_params(affinity),
        )
        return None if row is None or row[0] is None else float(row[0])

    def duplicate_leader(self, exc: BaseException) -> bool:
        """A UniqueViolationError of the constraint ``jobs_one_leader``."""
        return (
            isinstance(exc, asyncpg.UniqueViolationError)
            and exc.constraint_name == "jobs_one_leader"
        )

    # The daemon's hold.

    async def acquire(self, node: str) -> None:
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

    async def close(self) -> None:
        """Close the pool and let the node name go."""
        for held in (self._node_hold, self._listener):
            if held is not None:
                with contextlib.suppress(*Errors):
                    await held.close()
        self._node_hold = self._listener = None
        await self._pool.close()
