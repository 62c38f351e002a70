"""What only the SQLite store does: one file in WAL mode, its schema version in the file,
one daemon per file (the behaviour shared with PostgreSQL is in test_store.py)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import sys
from pathlib import Path

import pytest

from orchestrator.core.jobs import State
from orchestrator.core.output_options import OutputOptions
from orchestrator.core.quota import Pause
from orchestrator.core.settings import RecognitionSettings
from orchestrator.store import NewJob, StoreError, StoreLocked
from orchestrator.store.sqlite import SCHEMA_VERSION, SQLiteStore
from orchestrator.store.sqlite.schema import MIGRATIONS


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


async def test_a_version_2_file_is_brought_up_to_date_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with sqlite3.connect(path) as db:
        for number, script in MIGRATIONS:
            if number <= 2:
                db.executescript(script)
        db.execute("PRAGMA user_version = 2")
        db.execute("INSERT INTO quota_pauses (quota, until) VALUES ('submit', 50.0)")
    store = await SQLiteStore.open(path)
    try:
        job_spec = NewJob("/audio/a.ogg", "a", RecognitionSettings())
        await store.add_manifest("m", "/m.yaml", "d", [job_spec], 10.0)
        (job,) = await store.jobs_in([State.QUEUED])
        assert job.note is None
        # The old pause reads as one strike; the next 429 builds on it.
        seen: list[Pause | None] = []

        def change(current: Pause | None) -> Pause:
            seen.append(current)
            return Pause(60.0, 2)

        await store.pause_quota("submit", change)
        assert seen == [Pause(50.0, 1)]
        await store.update_job(job.id, None, {"note": "no speech recognised"}, 11.0)
        assert (await store.get_job(job.id)).note == "no speech recognised"  # type: ignore[union-attr]
    finally:
        await store.close()


async def test_jobs_of_a_version_4_file_keep_the_default_outputs(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with sqlite3.connect(path) as db:
        for number, script in MIGRATIONS:
            if number <= 4:
                db.executescript(script)
        db.execute("PRAGMA user_version = 4")
        db.execute(
            "INSERT INTO manifests (name, path, digest, created_at) VALUES ('m', '/m', 'd', 1)"
        )
        db.execute(
            "INSERT INTO jobs (manifest_id, source, output, settings, settings_key, state, "
            "next_action_at, created_at, updated_at) "
            "VALUES (1, '/a.ogg', 'a', '{}', 'k', 'queued', 1, 1, 1)"
        )
    store = await SQLiteStore.open(path)
    try:
        (job,) = await store.jobs_in([State.QUEUED])
        assert job.output_options == OutputOptions()
    finally:
        await store.close()


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


OPEN_ONCE = """
import asyncio, sys
from pathlib import Path
from orchestrator.store.sqlite import SQLiteStore

async def main() -> None:
    store = await SQLiteStore.open(Path(sys.argv[1]))
    await store.close()

asyncio.run(main())
"""


@pytest.mark.slow
async def test_processes_opening_a_new_file_at_once_all_find_it_up_to_date(
    tmp_path: Path,
) -> None:
    # A daemon and a `status --watch` started together both bring the schema up to date:
    # the one that waited for the write lock finds the migrations applied, not an error.
    for attempt in range(3):
        path = tmp_path / f"state-{attempt}.db"
        children = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                OPEN_ONCE,
                str(path),
                stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(6)
        ]
        for child in children:
            _, err = await child.communicate()
            assert child.returncode == 0, err.decode()
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_the_state_file_is_the_daemons_alone_whatever_the_umask(tmp_path: Path) -> None:
    # It holds webhook tokens and every transcript: a shell's umask 022 must not make it
    # (nor its WAL and shared-memory files) readable by other users.
    path = tmp_path / "state" / "orchestrator.sqlite3"
    old = os.umask(0o022)
    try:
        store = await SQLiteStore.open(path)
        try:
            await store.kv_set("probe", "1")
            files = [Path(f"{path}{suffix}") for suffix in ("", "-wal", "-shm")]
            assert all(p.exists() for p in files)
            for file in files:
                assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
        finally:
            await store.close()
    finally:
        os.umask(old)


async def test_deliveries_of_a_version_7_file_lose_their_argv_and_url(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with sqlite3.connect(path) as db:
        for number, script in MIGRATIONS:
            if number <= 7:
                db.executescript(script)
        db.execute("PRAGMA user_version = 7")
        db.execute(
            "INSERT INTO manifests (name, path, digest, created_at) VALUES ('m', '/m', 'd', 1)"
        )
        for number, (kind, target) in enumerate(
            (
                ("command", '{"command": ["/bin/notify", "--token=argv-secret"]}'),
                ("webhook", '{"url": "https://h.example/x?token=url-secret"}'),
            )
        ):
            db.execute(
                "INSERT INTO hook_deliveries (delivery_id, manifest_id, kind, origin, target, "
                "next_attempt_at, created_at, updated_at) VALUES (?, 1, ?, 'config', ?, 1, 1, 1)",
                (f"d{number}", kind, target),
            )
    store = await SQLiteStore.open(path)
    try:
        pending = await store.pending_hooks()
        assert [d.hook.target for d in pending] == ["/bin/notify", "https://h.example/x"]
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        stored = " ".join(row[0] for row in db.execute("SELECT target FROM hook_deliveries"))
    assert "secret" not in stored
