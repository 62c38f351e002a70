"""Statements on PostgreSQL: named queries (``:name`` parameters sent as ``$1``, ``$2``...)
on a pooled connection inside a transaction, or on the pool, each on its own."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import asyncpg

from orchestrator.store.postgres.schema import Q, Query, compile_query
from orchestrator.store.rows import Row

# A pooled connection, inside one transaction (subscripted for the type checker only).
Db: TypeAlias = "asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"


@functools.lru_cache(maxsize=256)
def _compiled(sql: str) -> Query:
    """A statement made on the spot, compiled once per distinct text (a job update's few
    shapes)."""
    return compile_query("update", sql)


def _rowcount(status: str) -> int:
    """The row count of a command tag ("UPDATE 3", "INSERT 0 1"); 0 when it has none."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PostgresSession:
    """Statements on one connection of a transaction, or on the pool (each statement then
    a transaction of its own)."""

    def __init__(self, on: Db | asyncpg.Pool) -> None:
        self._on = on

    async def execute(self, query: str, **params: Any) -> int:
        """Run a named query (a list sent as an array); how many rows it changed."""
        q = Q[query]
        return _rowcount(await self._on.execute(q.text, *q.args(params)))

    async def execute_many(
        self, query: str, rows: Sequence[Mapping[str, Any]], **shared: Any
    ) -> int:
        """Run a named query once for all ``rows``: each column is sent as one array,
        which the query unnests; how many rows it changed."""
        if not rows:
            return 0
        columns = {key: [row[key] for row in rows] for key in rows[0]}
        return await self.execute(query, **shared, **columns)

    async def execute_sql(self, sql: str, params: Mapping[str, Any]) -> int:
        """Run a statement made on the spot, compiled once per text; rows changed."""
        q = _compiled(sql)
        return _rowcount(await self._on.execute(q.text, *q.args(params)))

    async def fetch_one(self, query: str, **params: Any) -> Row | None:
        """The first row of a named query (a list sent as an array), if any."""
        q = Q[query]
        row: Row | None = await self._on.fetchrow(q.text, *q.args(params))
        return row

    async def fetch_all(self, query: str, **params: Any) -> list[Row]:
        """Every row of a named query (a list sent as an array)."""
        q = Q[query]
        return list(await self._on.fetch(q.text, *q.args(params)))
