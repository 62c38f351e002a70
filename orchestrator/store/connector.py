"""What the store's logic (``store.manager``) asks of a database: statements by name, in a
transaction or each on its own, and the few things the two dialects do differently.

Queries are named and kept in ``.sql`` files: ``store/sql/queries.sql`` holds those whose
text is the same in both dialects, each dialect's ``sql/queries.sql`` those that differ
(a query is in one place only; loading both raises on a name defined twice). Parameters
are written ``:name`` everywhere: SQLite binds them by name, PostgreSQL's connector turns
them into ``$1``, ``$2``... A value that is a list is a set of values: SQLite receives it
as JSON text (read with ``json_each``), PostgreSQL as an array. A parameter a query does
not name is ignored, so the logic passes what one dialect needs (a node, say) to both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from orchestrator.core.jobs import Job, State
from orchestrator.core.quota import Pause
from orchestrator.store.rows import Row
from orchestrator.store.types import Affinity, Claim


class Session(Protocol):
    """The statements of one transaction."""

    async def execute(self, query: str, **params: Any) -> int:
        """Run a named query; how many rows it changed."""
        ...

    async def execute_many(
        self, query: str, rows: Sequence[Mapping[str, Any]], **shared: Any
    ) -> int:
        """Run a named query for each of ``rows`` (with ``shared`` beside each): SQLite
        repeats it, PostgreSQL sends each column as one array (its query unnests them);
        how many rows it changed."""
        ...

    async def execute_sql(self, sql: str, params: Mapping[str, Any]) -> int:
        """Run a statement made on the spot (``:name`` parameters); rows changed."""
        ...

    async def fetch_one(self, query: str, **params: Any) -> Row | None:
        """The first row of a named query, if any."""
        ...

    async def fetch_all(self, query: str, **params: Any) -> list[Row]:
        """Every row of a named query."""
        ...


class Connector(Session, Protocol):
    """One database: statements outside a transaction (each one its own), transactions,
    the daemon's hold, and what the dialects do differently."""

    description: str  # where the database is, for logs (never a password)
    errors: tuple[type[BaseException], ...]  # what a failing database raises

    @property
    def shared(self) -> bool:
        """Whether other daemons may work on the same database."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Session]:
        """One write transaction: committed when the block ends, rolled back if it raises
        or is cancelled."""
        ...

    def apis(self, apis: Sequence[str] | None) -> list[str] | None:
        """The API filter as the dialect's queries take it (None: any API)."""
        ...

    async def lock(self, tx: Session, key: str) -> None:
        """Make transactions that lock the same ``key`` take turns (until this one ends).
        SQLite: nothing to do, a write transaction holds the whole file already."""
        ...

    async def lock_quotas(self, tx: Session, names: Sequence[str]) -> Mapping[str, float | None]:
        """Hold the quotas ``names`` until the transaction ends, so that claims of every
        daemon grant and spend each quota in turn; the pause of those it read doing so
        (the others are read with ``get_pause``)."""
        ...

    async def locked_pause(self, tx: Session, quota: str) -> Pause | None:
        """``quota``'s pause, read under the quota's lock (held until the end)."""
        ...

    async def note_classes(self, tx: Session, classes: Sequence[tuple[int, str]]) -> None:
        """New jobs of these (priority, API) pairs are being inserted (SQLite keeps the
        pairs for its index walks)."""
        ...

    async def due(self, tx: Session, claim: Claim, limit: int, now: float) -> list[Job]:
        """Up to ``limit`` due, unleased jobs of the claim (in ``claim.states``, of
        ``claim.apis``, that ``claim.affinity`` lets it take): highest priority first,
        then earliest due, then oldest; locked for this transaction where several daemons
        may claim at once."""
        ...

    async def next_due(
        self,
        states: Sequence[State],
        now: float,
        apis: Sequence[str] | None,
        affinity: Affinity | None,
    ) -> float | None:
        """When the earliest job in ``states`` becomes due, leases counted."""
        ...

    def duplicate_leader(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the "one leader per content and settings" rule refusing a
        row."""
        ...

    async def acquire(self, node: str) -> None:
        """Become a working daemon of ``node``; StoreLocked when another one is."""
        ...

    async def watch(self, changed: Callable[[State], None]) -> None:
        """Call ``changed(state)`` when another daemon makes a job due."""
        ...

    async def close(self) -> None:
        """Let the database go."""
        ...
