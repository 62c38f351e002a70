"""Copying a SQLite state file into PostgreSQL: the daemon moving to a shared store keeps
its jobs (ids, states, leaders), results, quota ledger, pauses and what it learned."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.core.jobs import State
from orchestrator.core.quota import Pause, QuotaSpec
from orchestrator.core.settings import RecognitionSettings
from orchestrator.store import Affinity, Claim, NewJob, Spend, StoreError
from orchestrator.store.migrate import copy_sqlite_to_postgres
from orchestrator.store.postgres import SCHEMA_VERSION, PostgresStore
from orchestrator.store.postgres.connector import describe
from orchestrator.store.sqlite import SQLiteStore
from tests.support.postgres import PostgresServer


async def test_everything_is_copied_and_new_rows_come_after(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    path = tmp_path / "s.sqlite3"
    old = await SQLiteStore.open(path)
    jobs = [
        NewJob("/audio/a.ogg", "a", RecognitionSettings(priority=2)),
        NewJob("s3://bucket/b.ogg", "b", RecognitionSettings()),
    ]
    await old.add_manifest("calls", "/in/.active/x-calls.yaml", "d1", jobs, 10.0)
    spend = Spend("submit", QuotaSpec(100, 3600.0))
    claimed = await old.claim(Claim((State.QUEUED,), 1, 60.0, spends=(spend,)), "n:1:x", 20.0)
    await old.update_job(claimed.jobs[0].id, State.QUEUED, {"state": State.UPLOADED}, 21.0)
    await old.put_result("h", "k", "op1", {"transcript": {}}, 22.0)
    await old.pause_quota("status", lambda _current: Pause(99.0, 3))
    await old.kv_set("polling.estimator/v2/general", '{"n": 3}')
    before = await old.manifests()
    old_jobs = await old.manifest_jobs(1)
    await old.close()

    url = postgres_server.create_database()
    counts = await copy_sqlite_to_postgres(path, url, postgres_server.password, "rec-01")
    assert counts["jobs"] == 2
    assert counts["quota_ledger"] == 1
    new = await PostgresStore.open(url, postgres_server.password)
    try:
        (manifest,) = await new.manifests()
        assert (manifest.name, manifest.counts, manifest.node) == (
            before[0].name,
            before[0].counts,
            "rec-01",
        )
        assert await new.manifest_jobs(1) == old_jobs
        assert await new.quota_spent("submit", 0.0) == [20.0]
        assert await new.quota_paused_until("status") == 99.0
        # The count of 429s in a row came along: the next one builds on it.
        assert await new.pause_quota("status", lambda current: current or Pause(0.0)) == Pause(
            99.0, 3
        )
        assert await new.get_result("h", "k") == ("op1", {"transcript": {}})
        assert await new.kv_get("polling.estimator/v2/general") == '{"n": 3}'
        # The copied local job is its node's to upload; the object in storage anyone's.
        elsewhere = await new.claim(
            Claim((State.QUEUED,), 5, 60.0, affinity=Affinity("rec-02")), "rec-02:1:x", 30.0
        )
        assert [job.source for job in elsewhere.jobs] == ["s3://bucket/b.ogg"]
        new_id, _ = await new.add_manifest(
            "more", "/m.yaml", "d2", [NewJob("/c.ogg", "c", RecognitionSettings())], 40.0
        )
        assert new_id == 2
        assert [job.id for job in await new.manifest_jobs(new_id)] == [3]
    finally:
        await new.close()
    # Copying twice would mix two histories: refused.
    with pytest.raises(StoreError, match="already holds manifests"):
        await copy_sqlite_to_postgres(path, url, postgres_server.password, "rec-01")


def test_migrate_brings_the_schema_up_and_neither_command_prints_the_url(
    postgres_server: PostgresServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The owner's config migrates; a daemon whose role may not (state.migrate: false)
    # then starts on the migrated database. Neither command prints the URL's query.
    url = postgres_server.create_database() + "?application_name=query-never-printed"
    monkeypatch.setenv("TEST_PG_PASSWORD", postgres_server.password)
    config = tmp_path / "owner.yaml"
    config.write_text(
        f"storage: {{bucket: b-1}}\nstate: {{url: '{url}', password_env: TEST_PG_PASSWORD}}\n",
        "utf-8",
    )
    assert main(["migrate", "--config", str(config)]) == 0
    migrated = capsys.readouterr().out
    assert f"schema version {SCHEMA_VERSION}" in migrated
    assert describe(url) in migrated

    async def open_as_daemon() -> None:
        store = await PostgresStore.open(url, postgres_server.password, migrate=False)
        await store.close()

    asyncio.run(open_as_daemon())

    source = tmp_path / "old.sqlite3"

    async def make_source() -> None:
        store = await SQLiteStore.open(source)
        await store.close()

    asyncio.run(make_source())
    assert main(["migrate-state", "--config", str(config), "--from", str(source)]) == 0
    copied = capsys.readouterr().out
    assert describe(url) in copied
    assert "query-never-printed" not in migrated + copied
