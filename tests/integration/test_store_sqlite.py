"""What only the SQLite store does: one file in WAL mode, its schema version in the file,
one daemon per file (the behaviour shared with PostgreSQL is in test_store.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from orchestrator.store import StoreError, StoreLocked
from orchestrator.store.sqlite import SCHEMA_VERSION, SQLiteStore


async def test_schema_is_versioned_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = await SQLiteStore.open(path)
    await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # Opening again does not re-run migrations.
    again = await SQLiteStore.open(path)
    await again.close()


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer"):
        await SQLiteStore.open(path)


async def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=r"s\.sqlite3"):
        await SQLiteStore.open(path)


async def test_one_daemon_per_state_file(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "s.sqlite3")
    await store.acquire("node1")
    other = await SQLiteStore.open(store.path)
    try:
        # Whatever its node: a file is one daemon's.
        with pytest.raises(StoreLocked):
            await other.acquire("node2")
    finally:
        await other.close()
        await store.close()
