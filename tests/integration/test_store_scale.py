"""A store of 100,000 jobs claims, wakes and counts through indexes: the cost of a claim does
not grow with the backlog. Counted, not timed: query plans, and SQLite's virtual-machine
steps per query against the size of the table."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.core.jobs import ACTIVE, State
from orchestrator.core.settings import RecognitionSettings
from orchestrator.store import Claim, NewJob
from orchestrator.store.sqlite import SQLiteStore
from orchestrator.store.sqlite.schema import Q

# Stores of 100,000 jobs: `make test` runs them, `make test-fast` does not.
pytestmark = pytest.mark.slow

JOBS = 100_000
# A claim of this many may walk about this many rows, whatever the size of the table.
LIMIT = 32
# Queries the daemon runs often (per claim, per wake-up), with their parameters.
HOT: dict[str, dict[str, object]] = {
    "due_ids": {"state": "uploaded", "api": "v2", "priority": 0, "now": 50.0, "limit": LIMIT},
    "next_unleased": {"state": "running", "api": "v2", "priority": 0, "now": 50.0},
    "next_lease_end": {"states": '["running"]', "apis": None, "now": 50.0},
    "any_in_states": {"states": json.dumps([s.value for s in ACTIVE])},
    "count_states": {"states": '["submitting"]'},
    "object_in_use": {"object_key": "k7", "id": 1},
    "find_leader": {"content_hash": "h", "settings_key": "k", "id": 1},
    "job_classes": {},
}
# Queries that read every job by design (a status report), through a covering index.
REPORTS: dict[str, dict[str, object]] = {"counts_by_state": {}, "manifest_counts": {}}
# The status page's newest failures: a bounded walk of an index of the failed jobs alone.
FAILURES: tuple[str, dict[str, object]] = ("recent_failures", {"limit": 25})
FAILED_EVERY = 10  # in the stores with failures, every tenth job failed


def jobs(count: int) -> Iterator[NewJob]:
    settings = RecognitionSettings()
    for i in range(count):
        yield NewJob(f"s3://bucket/audio/{i}.ogg", f"out/{i}", settings)


def make_store(path: Path, count: int) -> Path:
    """A store with ``count`` jobs: half waiting to be submitted, half running, none due."""

    async def fill() -> None:
        store = await SQLiteStore.open(path)
        await store.add_manifest("big", "/m.yaml", "d", jobs(count), 0.0)
        await store.close()

    asyncio.run(fill())
    with sqlite3.connect(path) as db:
        db.execute("UPDATE jobs SET state = 'uploaded', next_action_at = 10 WHERE id % 2 = 0")
        db.execute("UPDATE jobs SET state = 'running', next_action_at = 1e9 WHERE id % 2 = 1")
    return path


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The store of 100,000 jobs, made once for the module."""
    return make_store(tmp_path_factory.mktemp("scale") / "s.sqlite3", JOBS)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same with 100 jobs."""
    return make_store(tmp_path_factory.mktemp("scale") / "s.sqlite3", 100)


def with_failures(source: Path, target: Path) -> Path:
    """A copy of the store at ``source`` where every tenth job failed, each at its own time."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
        dst.execute(
            "UPDATE jobs SET state = 'failed', error = 'not audio: ' || source, "
            "finished_at = 1000.0 + id WHERE id % ? = 0",
            (FAILED_EVERY,),
        )
    return target


def plan(db: sqlite3.Connection, name: str, params: dict[str, object]) -> list[str]:
    return [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + Q[name], params)]


def steps(db: sqlite3.Connection, name: str, params: dict[str, object]) -> int:
    """SQLite virtual-machine instructions the query takes (in thousands, rounded up)."""
    count = 0

    def tick() -> int:
        nonlocal count
        count += 1
        return 0

    db.set_progress_handler(tick, 1000)
    try:
        db.execute(Q[name], params).fetchall()
    finally:
        db.set_progress_handler(None, 0)
    return count + 1


def test_hot_queries_walk_an_index_and_never_sort(big: Path) -> None:
    with sqlite3.connect(big) as db:
        for name, params in HOT.items():
            for step in plan(db, name, params):
                assert "TEMP B-TREE" not in step, (name, step)
                assert not step.startswith("SCAN jobs"), (name, step)
                assert not step.startswith("SCAN manifests"), (name, step)
        for name, params in REPORTS.items():
            for step in plan(db, name, params):
                assert "TEMP B-TREE" not in step, (name, step)
                if step.startswith("SCAN jobs"):
                    assert "COVERING INDEX" in step, (name, step)


async def test_a_claim_costs_the_same_at_100_or_100000_jobs(big: Path, tmp_path: Path) -> None:
    small = tmp_path / "small.sqlite3"
    store = await SQLiteStore.open(small)
    await store.add_manifest("small", "/m.yaml", "d", jobs(100), 0.0)
    await store.close()
    with sqlite3.connect(small) as db:
        db.execute("UPDATE jobs SET state = 'uploaded', next_action_at = 10 WHERE id % 2 = 0")
        db.execute("UPDATE jobs SET state = 'running', next_action_at = 1e9 WHERE id % 2 = 1")
    with sqlite3.connect(small) as few, sqlite3.connect(big) as many:
        for name, params in HOT.items():
            # A thousand times the rows, about the same work (a scan would take ~1000x).
            assert steps(many, name, params) <= 3 * steps(few, name, params) + 2, name


async def test_claims_at_scale_take_the_right_jobs(big: Path) -> None:
    store = await SQLiteStore.open(big)
    try:
        ask = Claim((State.UPLOADED, State.SUBMITTING), LIMIT, 60.0, apis=("v2", "v3"))
        first = await store.claim(ask, "n:1:a", 50.0)
        second = await store.claim(ask, "n:1:a", 50.0)
        assert [j.id for j in first.jobs] == list(range(2, 2 * LIMIT + 1, 2))
        assert [j.id for j in second.jobs] == list(range(2 * LIMIT + 2, 4 * LIMIT + 1, 2))
        # Nothing running is due; the poll stage is told when the next one is.
        poll = Claim((State.RUNNING,), LIMIT, 60.0, apis=("v2",))
        assert (await store.claim(poll, "n:1:a", 50.0)).jobs == []
        assert await store.next_due([State.RUNNING], 50.0, ["v2"]) == 1e9
        assert await store.any_in([State.RUNNING])
        assert await store.count([State.SUBMITTING]) == 0
        assert await store.counts_by_state() == {"uploaded": JOBS // 2, "running": JOBS // 2}
    finally:
        await store.close()


async def test_the_newest_failures_cost_the_same_at_100_or_100000_jobs(
    big: Path, small: Path, tmp_path: Path
) -> None:
    many = with_failures(big, tmp_path / "many.sqlite3")
    few = with_failures(small, tmp_path / "few.sqlite3")
    name, params = FAILURES
    with sqlite3.connect(many) as db_many, sqlite3.connect(few) as db_few:
        steps_of_plan = plan(db_many, name, params)
        assert any("jobs_failed_recent" in step for step in steps_of_plan), steps_of_plan
        for step in steps_of_plan:
            assert "TEMP B-TREE" not in step, step
            assert not step.startswith("SCAN manifests"), step
        # 10,000 failed jobs against 10: about the same work, as many rows as are shown.
        assert steps(db_many, name, params) <= 3 * steps(db_few, name, params) + 2
    store = await SQLiteStore.open(many)
    try:
        newest = await store.recent_failures(3)
    finally:
        await store.close()
    assert [job.id for job in newest] == [JOBS, JOBS - FAILED_EVERY, JOBS - 2 * FAILED_EVERY]
    assert newest[0].error == f"not audio: s3://bucket/audio/{JOBS - 1}.ogg"
