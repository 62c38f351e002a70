"""The SQLite store's SQL: named queries (the shared ones of ``store/sql`` and its own) and
migrations, from ``sql/``."""

from __future__ import annotations

from orchestrator.store.sqlfiles import load_migrations, load_queries

Q = load_queries("orchestrator.store.sqlite")
MIGRATIONS = load_migrations("orchestrator.store.sqlite")
SCHEMA_VERSION = MIGRATIONS[-1][0]
