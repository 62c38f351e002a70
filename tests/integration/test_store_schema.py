"""Schema parity: after migrating, SQLite and PostgreSQL hold the same tables, columns (their
types mapped) and indexes, all as ``store.tables`` declares them, but for the few it names
as one database's own."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg

from orchestrator.store.postgres import PostgresStore
from orchestrator.store.sqlite import SQLiteStore
from orchestrator.store.tables import (
    INDEXES,
    PAUSES,
    POSTGRES_ONLY_COLUMNS,
    POSTGRES_ONLY_INDEXES,
    POSTGRES_ONLY_TABLES,
    SQLITE_ONLY_TABLES,
    TABLES,
)
from tests.support.postgres import PostgresServer

# A column's type as each database names it, mapped to one name.
POSTGRES_TYPES = {
    "bigint": "INTEGER",
    "integer": "INTEGER",
    "text": "TEXT",
    "double precision": "REAL",
    "boolean": "BOOLEAN",
    "timestamp with time zone": "TIMESTAMP",
}

Columns = dict[str, dict[str, str]]  # table -> column -> mapped type


def sqlite_schema(path: Path) -> tuple[Columns, dict[str, str]]:
    """Every table's columns, and every index (constraints' own left out) with its table."""
    with sqlite3.connect(path) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        columns = {
            table: {row[1]: row[2] for row in db.execute(f"PRAGMA table_info({table})")}
            for table in tables
        }
        indexes = dict(
            db.execute(
                "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' "
                "AND name NOT LIKE 'sqlite_autoindex_%'"
            ).fetchall()
        )
    return columns, indexes


async def postgres_schema(url: str, password: str) -> tuple[Columns, dict[str, str]]:
    """The same for the PostgreSQL database at ``url``."""
    connection = await asyncpg.connect(url, password=password)
    try:
        rows = await connection.fetch(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
        )
        index_rows = await connection.fetch(
            "SELECT i.relname AS index, t.relname AS table FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "JOIN pg_namespace n ON n.oid = t.relnamespace "
            "WHERE n.nspname = current_schema() "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"
        )
    finally:
        await connection.close()
    columns: Columns = {}
    for row in rows:
        columns.setdefault(row["table_name"], {})[row["column_name"]] = POSTGRES_TYPES[
            row["data_type"]
        ]
    return columns, {row["index"]: row["table"] for row in index_rows}


def names(columns: Columns) -> dict[str, list[str]]:
    return {table: sorted(found) for table, found in columns.items()}


async def test_both_databases_arrive_at_the_declared_schema(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    path = tmp_path / "s.sqlite3"
    await (await SQLiteStore.open(path)).close()
    url = postgres_server.create_database()
    await (await PostgresStore.open(url, postgres_server.password)).close()
    lite, lite_indexes = sqlite_schema(path)
    pg, pg_indexes = await postgres_schema(url, postgres_server.password)

    # The same tables with the same columns, but for what store.tables names.
    sqlite_pauses, postgres_pauses = PAUSES["sqlite"], PAUSES["postgres"]
    declared = {table: sorted(columns) for table, columns in TABLES.items()}
    assert names(lite) == {
        **declared,
        **{table: sorted(columns) for table, columns in SQLITE_ONLY_TABLES.items()},
        sqlite_pauses[0]: sorted(sqlite_pauses[1]),
    }
    postgres_only = {
        table: sorted([*TABLES[table], *extra]) for table, extra in POSTGRES_ONLY_COLUMNS.items()
    }
    assert names(pg) == {
        **declared,
        **postgres_only,
        **{table: sorted(columns) for table, columns in POSTGRES_ONLY_TABLES.items()},
        postgres_pauses[0]: sorted(postgres_pauses[1]),
    }

    # Of the same types.
    for table, columns in TABLES.items():
        assert {c: lite[table][c] for c in columns} == {c: pg[table][c] for c in columns}, table
    assert [lite[sqlite_pauses[0]][c] for c in sqlite_pauses[1]] == [
        pg[postgres_pauses[0]][c] for c in postgres_pauses[1]
    ]

    # The same indexes, on the same tables.
    assert lite_indexes == INDEXES
    assert pg_indexes == {**INDEXES, **POSTGRES_ONLY_INDEXES}
