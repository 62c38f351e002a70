"""The PostgreSQL store: one database shared by several daemons (one per node)."""

from __future__ import annotations

from typing import Self

from orchestrator.store.manager import SqlStore
from orchestrator.store.postgres.connector import PostgresConnector
from orchestrator.store.postgres.schema import SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "PostgresStore"]


class PostgresStore(SqlStore):
    """The store in a PostgreSQL database. Use ``await PostgresStore.open(url, password)``."""

    @classmethod
    async def open(cls, url: str, password: str | None = None, migrate: bool = True) -> Self:
        """The store in the database at ``url``, its schema brought up to date (with
        ``migrate`` False: checked to be, by a role that may not change it)."""
        return cls(await PostgresConnector.open(url, password, migrate))
