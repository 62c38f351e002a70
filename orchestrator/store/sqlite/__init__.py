"""The SQLite store: one file in WAL mode, one daemon per file (a file lock)."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from orchestrator.store.manager import SqlStore
from orchestrator.store.sqlite.connector import SQLiteConnector
from orchestrator.store.sqlite.schema import SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]


class SQLiteStore(SqlStore):
    """The store in one SQLite file. Use ``await SQLiteStore.open(path)``."""

    def __init__(self, db: SQLiteConnector) -> None:
        super().__init__(db)
        self.path = db.path

    @classmethod
    async def open(cls, path: Path) -> Self:
        """Open (creating and migrating as needed) the store at ``path``."""
        return cls(await SQLiteConnector.open(path))
