"""Copying a SQLite state file into an empty PostgreSQL database, so that a daemon moving
to a shared store keeps its jobs, results, quota ledger and what it learned.

Every row keeps its id (leaders point at their followers by id); the manifests and their
jobs are given to ``node``, the daemon whose disk holds their audio and results. Leases
are not copied: no daemon of the old store may be running.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg

from orchestrator.core.refs import is_object_uri
from orchestrator.store.postgres import PostgresStore
from orchestrator.store.sqlite import SQLiteStore
from orchestrator.store.tables import PAUSES, TABLES
from orchestrator.store.types import StoreError

# Leases are not copied: no daemon of the old store may be running.
COPIED = {
    table: tuple(c for c in columns if c not in ("lease_owner", "lease_until"))
    for table, columns in TABLES.items()
}
# Each table's rows, read in this order (ids kept: new rows are numbered after them).
ORDER = {"manifests": "id", "jobs": "id", "quota_ledger": "spent_at", "hook_deliveries": "id"}
# Only what a daemon keeps: not the health check's scratch value.
WHERE = {"kv": "key <> 'healthz'"}
SQLITE_PAUSES, POSTGRES_PAUSES = PAUSES["sqlite"], PAUSES["postgres"]


def _select(table: str, columns: Sequence[str]) -> str:
    where = f" WHERE {WHERE[table]}" if table in WHERE else ""
    order = f" ORDER BY {ORDER[table]}" if table in ORDER else ""
    return f"SELECT {', '.join(columns)} FROM {table}{where}{order}"


def _read(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row to copy, by PostgreSQL table, read in one transaction of a read-only
    connection."""
    if not path.is_file():
        raise StoreError(f"{path}: no such state file")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        db.execute("BEGIN")
        rows = {}
        for table, columns in COPIED.items():
            rows[table] = db.execute(_select(table, columns)).fetchall()
            if table == "quota_ledger":  # the pauses beside the ledger
                pauses = _select(*SQLITE_PAUSES)
                rows[POSTGRES_PAUSES[0]] = db.execute(pauses).fetchall()
        return rows
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: not a usable state file: {exc}") from None
    finally:
        db.close()


async def copy_sqlite_to_postgres(
    sqlite_path: Path, url: str, password: str | None, node: str
) -> dict[str, int]:
    """Copy the state file at ``sqlite_path`` into the empty database at ``url`` (migrated
    first); how many rows of each table were copied. StoreError when the database holds
    manifests already or the file is not a state file."""
    # Opening brings the file's schema up to date before it is read.
    await (await SQLiteStore.open(sqlite_path)).close()
    rows = _read(sqlite_path)
    target = await PostgresStore.open(url, password)
    await target.close()
    connection = await asyncpg.connect(url, password=password)
    try:
        async with connection.transaction():
            if await connection.fetchval("SELECT count(*) FROM manifests"):
                raise StoreError(
                    f"{target.description}: the database already holds manifests; copy into "
                    "an empty database"
                )
            await _copy(connection, rows, node)
    finally:
        await connection.close()
    return {table: len(found) for table, found in rows.items()}


async def _copy(
    connection: asyncpg.Connection, rows: dict[str, list[tuple[Any, ...]]], node: str
) -> None:
    """Write the rows read, the manifests and their jobs given to ``node``."""
    nodes = {row[0]: node for row in rows["manifests"]}
    jobs = COPIED["jobs"]
    source, manifest = jobs.index("source"), jobs.index("manifest_id")
    extra: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {
        "manifests": (["node"], [(*row, node) for row in rows["manifests"]]),
        "jobs": (
            ["node", "local"],
            [(*row, nodes[row[manifest]], not is_object_uri(row[source])) for row in rows["jobs"]],
        ),
    }
    for table, found in rows.items():
        columns = list(POSTGRES_PAUSES[1] if table == POSTGRES_PAUSES[0] else COPIED[table])
        more, records = extra.get(table, ([], found))
        await connection.copy_records_to_table(table, records=records, columns=columns + more)
    # New rows are numbered after the copied ones.
    for table in ("manifests", "jobs", "hook_deliveries"):
        await connection.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"(SELECT COALESCE(max(id), 0) + 1 FROM {table}), false)"
        )
