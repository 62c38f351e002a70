"""The SQLite store: one file in WAL mode, one daemon per file (a file lock)."""

from __future__ import annotations

from orchestrator.store.sqlite.store import SCHEMA_VERSION, SQLiteStore

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]
