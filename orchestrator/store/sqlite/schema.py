"""The SQLite store's schema: named queries and migrations from ``sql/`` (rows to jobs:
``store.rows``)."""

from __future__ import annotations

from orchestrator.store.rows import COUNTERS, JOB_FIELDS, row_to_job, to_column
from orchestrator.store.sqlfiles import load_migrations, load_queries

__all__ = ["COUNTERS", "JOB_FIELDS", "MIGRATIONS", "SCHEMA_VERSION", "Q", "row_to_job", "to_column"]

Q = load_queries("orchestrator.store.sqlite")
MIGRATIONS = load_migrations("orchestrator.store.sqlite")
SCHEMA_VERSION = MIGRATIONS[-1][0]
