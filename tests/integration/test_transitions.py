"""The one writer of job state, in-process over a real SQLite store: a move is one row
update that returns the job as it now is and wakes the stage that takes it next; a move
from a state the job has left changes nothing; an ended job is counted and announced."""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchestrator.core.jobs import InvalidTransition, Job, Stage, State
from orchestrator.core.parts import Part
from orchestrator.core.settings import RecognitionSettings
from orchestrator.pipeline.context import Context
from orchestrator.pipeline.ledger import QuotaLedger
from orchestrator.pipeline.transitions import Transitions
from orchestrator.storage.local import LocalStorage
from orchestrator.store import Claim, NewJob
from orchestrator.store.sqlite import SQLiteStore
from orchestrator.telemetry.metrics import DaemonMetrics
from tests.support.pipeline import settings

OWNER = "testnode:1:a"


@pytest.fixture
async def one_job(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    """A new SQLite store with one manifest of one job."""
    opened = await SQLiteStore.open(tmp_path / "s.sqlite3")
    await opened.add_manifest(
        "m", "/m.yaml", "d", [NewJob("/a.ogg", "a", RecognitionSettings())], 0.0
    )
    yield opened
    await opened.close()


def context(store: SQLiteStore, tmp_path: Path, kicked: list[Stage]) -> Context:
    """A pipeline's context over ``store`` (no storage, no clients) recording its kicks."""
    metrics = DaemonMetrics()
    return Context(
        store=store,
        storage=LocalStorage(tmp_path / "objects", "b"),  # transitions touch none
        clients={},
        settings=settings(tmp_path),
        metrics=metrics,
        ledger=QuotaLedger(store, metrics, time.time),
        clock=time.time,
        rng=random.Random(0),
        owner=OWNER,
        kick=kicked.append,
    )


async def claimed(store: SQLiteStore) -> Job:
    """The manifest's job, leased as the upload stage would."""
    (job,) = (await store.claim(Claim((State.QUEUED,), 1, 60.0), OWNER, time.time())).jobs
    return job


async def test_a_move_is_one_update_and_wakes_the_stage_that_takes_the_job_next(
    tmp_path: Path, one_job: SQLiteStore
) -> None:
    kicked: list[Stage] = []
    transitions = Transitions(context(one_job, tmp_path, kicked), None)
    job = await claimed(one_job)
    uploading = await transitions.move(job, State.UPLOADING)
    # Entering a "doing" state, the step goes on: nothing else is woken.
    assert uploading is not None
    assert uploading.state is State.UPLOADING
    assert kicked == []
    uploaded = await transitions.move(uploading, State.UPLOADED, object_key="k")
    assert uploaded is not None
    assert (uploaded.state, uploaded.object_key) == (State.UPLOADED, "k")
    stored = await one_job.get_job(job.id)
    assert stored is not None
    assert (stored.state, stored.object_key) == (State.UPLOADED, "k")
    assert kicked == [Stage.SUBMIT]


async def test_a_move_from_a_state_the_job_has_left_changes_nothing(
    tmp_path: Path, one_job: SQLiteStore
) -> None:
    transitions = Transitions(context(one_job, tmp_path, []), None)
    job = await claimed(one_job)
    # The operator cancels the manifest while the step holds its copy of the job.
    assert await one_job.cancel_manifest("m", time.time()) == 1
    assert await transitions.move(job, State.UPLOADING) is None
    stored = await one_job.get_job(job.id)
    assert stored is not None
    assert stored.state is State.CANCELLED


async def test_a_move_the_state_machine_forbids_is_refused_and_not_written(
    tmp_path: Path, one_job: SQLiteStore
) -> None:
    transitions = Transitions(context(one_job, tmp_path, []), None)
    job = await claimed(one_job)
    with pytest.raises(InvalidTransition):
        await transitions.move(job, State.DONE)
    stored = await one_job.get_job(job.id)
    assert stored is not None
    assert stored.state is State.QUEUED


async def test_a_failed_job_is_recorded_counted_and_announced(
    tmp_path: Path, one_job: SQLiteStore
) -> None:
    ended: list[Job] = []

    async def on_job_ended(job: Job) -> None:
        ended.append(job)

    ctx = context(one_job, tmp_path, [])
    transitions = Transitions(ctx, on_job_ended)
    job = await claimed(one_job)
    await transitions.fail(job, "the file is gone")
    stored = await one_job.get_job(job.id)
    assert stored is not None
    assert (stored.state, stored.error) == (State.FAILED, "the file is gone")
    assert stored.finished_at is not None
    assert [j.id for j in ended] == [job.id]
    assert ctx.metrics.jobs_failed.value(reason="permanent") == 1


async def test_a_split_adds_the_parts_moves_the_job_and_wakes_the_uploads(
    tmp_path: Path, one_job: SQLiteStore
) -> None:
    kicked: list[Stage] = []
    transitions = Transitions(context(one_job, tmp_path, kicked), None)
    job = await claimed(one_job)
    parts = [Part(0, 2, 0.0, 10.0), Part(1, 2, 10.0, 20.0)]
    await transitions.split(job, parts, time.time(), content_hash="whole")
    stored = await one_job.get_job(job.id)
    assert stored is not None
    assert (stored.state, stored.content_hash) == (State.SPLIT, "whole")
    assert [(p.part, p.state) for p in await one_job.parts_of(job.id)] == [
        (parts[0], State.QUEUED),
        (parts[1], State.QUEUED),
    ]
    assert kicked == [Stage.UPLOAD]
    # A copy of the job from before the split changes nothing more.
    await transitions.split(job, parts, time.time())
    assert len(await one_job.parts_of(job.id)) == 2
    with pytest.raises(InvalidTransition):
        await transitions.split(stored, parts, time.time())


async def test_a_part_ending_moves_its_job_on_when_the_last_is_done_or_one_failed(
    tmp_path: Path, one_job: SQLiteStore
) -> None:
    transitions = Transitions(context(one_job, tmp_path, []), None)
    job = await claimed(one_job)
    await transitions.split(job, [Part(0, 2, 0.0, 10.0), Part(1, 2, 10.0, 20.0)], time.time())
    first, second = await one_job.parts_of(job.id)
    fetching = dataclasses.replace(first, state=State.FETCHING)
    assert await one_job.update_job(first.id, None, {"state": State.FETCHING}, time.time())
    await transitions.move(fetching, State.DONE)
    waiting = await one_job.get_job(job.id)
    assert waiting is not None
    assert waiting.state is State.SPLIT
    await transitions.fail(second, "/a.ogg: unreadable")
    failed = await one_job.get_job(job.id)
    assert failed is not None
    assert (failed.state, failed.error) == (State.FAILED, "part 2 of 2: /a.ogg: unreadable")
