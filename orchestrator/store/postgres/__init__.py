"""The PostgreSQL store: one database shared by several daemons (one per node)."""

from __future__ import annotations

from orchestrator.store.postgres.store import SCHEMA_VERSION, PostgresStore

__all__ = ["SCHEMA_VERSION", "PostgresStore"]
