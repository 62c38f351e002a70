"""Copying a SQLite state file into an empty PostgreSQL database, so that a daemon moving
to a shared store keeps its jobs, results, quota ledger and what it learned.

Every row keeps its id (leaders point at their followers by id); the manifests and their
jobs are given to ``node``, the daemon whose disk holds their audio and results. Leases
are not copied: no daemon of the old store may be running.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import asyncpg

from orchestrator.core.refs import is_object_uri
from orchestrator.store.postgres import PostgresStore
from orchestrator.store.sqlite import SQLiteStore
from orchestrator.store.types import StoreError

JOB_COLUMNS = (
    "id", "manifest_id", "source", "output", "settings", "settings_key", "api", "priority",
    "state", "attempts", "next_action_at", "content_hash", "audio", "object_key",
    "operation_id", "submitted_at", "submissions", "polls", "last_poll_at", "leader_id",
    "error", "created_at", "updated_at", "finished_at", "note", "output_options",
)  # fmt: skip
MANIFEST_COLUMNS = (
    "id", "name", "path", "digest", "state", "created_at", "finished_at", "report_path",
    "on_finish",
)  # fmt: skip
# Hook deliveries still pending are made by the daemon of the PostgreSQL store.
DELIVERY_COLUMNS = (
    "id", "delivery_id", "manifest_id", "kind", "origin", "target", "state", "attempts",
    "next_attempt_at", "last_error", "created_at", "updated_at", "delivered_at",
)  # fmt: skip


def _read(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row to copy, read in one transaction of a read-only connection."""
    if not path.is_file():
        raise StoreError(f"{path}: no such state file")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        db.execute("BEGIN")
        return {
            "manifests": db.execute(
                f"SELECT {', '.join(MANIFEST_COLUMNS)} FROM manifests ORDER BY id"
            ).fetchall(),
            "jobs": db.execute(f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs ORDER BY id").fetchall(),
            "results": db.execute(
                "SELECT content_hash, settings_key, operation_id, response, created_at FROM results"
            ).fetchall(),
            "quota_ledger": db.execute(
                "SELECT quota, spent_at, amount FROM quota_ledger ORDER BY spent_at"
            ).fetchall(),
            "quotas": db.execute("SELECT quota, until, strikes FROM quota_pauses").fetchall(),
            "kv": db.execute("SELECT key, value FROM kv WHERE key <> 'healthz'").fetchall(),
            "hook_deliveries": db.execute(
                f"SELECT {', '.join(DELIVERY_COLUMNS)} FROM hook_deliveries ORDER BY id"
            ).fetchall(),
        }
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
            nodes = {row[0]: node for row in rows["manifests"]}
            await connection.copy_records_to_table(
                "manifests",
                records=[(*row, node) for row in rows["manifests"]],
                columns=[*MANIFEST_COLUMNS, "node"],
            )
            source = JOB_COLUMNS.index("source")
            manifest = JOB_COLUMNS.index("manifest_id")
            await connection.copy_records_to_table(
                "jobs",
                records=[
                    (*row, nodes[row[manifest]], not is_object_uri(row[source]))
                    for row in rows["jobs"]
                ],
                columns=[*JOB_COLUMNS, "node", "local"],
            )
            for table, columns in (
                (
                    "results",
                    ["content_hash", "settings_key", "operation_id", "response", "created_at"],
                ),
                ("quota_ledger", ["quota", "spent_at", "amount"]),
                ("quotas", ["name", "paused_until", "strikes"]),
                ("kv", ["key", "value"]),
                ("hook_deliveries", list(DELIVERY_COLUMNS)),
            ):
                await connection.copy_records_to_table(table, records=rows[table], columns=columns)
            # New rows are numbered after the copied ones.
            for table in ("manifests", "jobs", "hook_deliveries"):
                await connection.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT COALESCE(max(id), 0) + 1 FROM {table}), false)"
                )
    finally:
        await connection.close()
    return {table: len(found) for table, found in rows.items()}
