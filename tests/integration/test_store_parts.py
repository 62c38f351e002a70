"""A split job's part jobs in every store (SQLite and PostgreSQL): added once, found by
their parent, ordinary jobs to claim, and neither counted nor listed as the manifest's own;
cancel and retry take them along."""

from __future__ import annotations

from orchestrator.core.audio import AudioFacts
from orchestrator.core.jobs import STAGE_OF, Job, State
from orchestrator.core.parts import Part
from orchestrator.store import JobUpdate, Store
from tests.integration.test_store import new_jobs, take

WAV = AudioFacts("LINEAR16_PCM", 90.0, 1, 8000, 44, 1_440_000, "wav", 1_440_044)
THREE = [Part(0, 3, 0.0, 30.0), Part(1, 3, 30.0, 60.0), Part(2, 3, 60.0, 90.0)]


async def split_one(store: Store, parts: list[Part] = THREE) -> tuple[Job, list[Job]]:
    """Manifest "m" of two jobs; the first claimed and split into ``parts``."""
    await store.add_manifest("m", "/m.yaml", "d", new_jobs(2), 10.0)
    parent = min(await take(store, State.QUEUED, 20.0, 2), key=lambda job: job.id)
    move: JobUpdate = {"state": State.SPLIT, "content_hash": "whole", "audio": WAV}
    assert await store.add_parts(parent, parts, 21.0, move)
    split = await store.get_job(parent.id)
    assert split is not None
    return split, await store.parts_of(parent.id)


async def test_parts_are_added_once_with_the_parents_job(store: Store) -> None:
    parent, parts = await split_one(store)
    assert parent.state is State.SPLIT
    assert (parent.content_hash, parent.audio, parent.part) == ("whole", WAV, None)
    assert [job.part for job in parts] == THREE
    for job in parts:
        assert job.parent_id == parent.id
        assert job.state is State.QUEUED
        assert (job.source, job.output, job.settings, job.priority) == (
            parent.source,
            parent.output,
            parent.settings,
            parent.priority,
        )
        assert (job.settings_key, job.manifest_id, job.manifest_name) == (
            parent.settings_key,
            parent.manifest_id,
            "m",
        )
        assert job.content_hash is None
    # Again (a restart midway): nothing added twice, the parent not moved twice.
    assert await store.add_parts(parent, THREE, 30.0)
    assert len(await store.parts_of(parent.id)) == 3
    queued = dict(parent.__dict__, state=State.QUEUED)
    assert not await store.add_parts(Job(**queued), THREE[:1], 31.0, {"state": State.SPLIT})


async def test_parts_are_claimed_as_jobs_and_the_parent_is_not(store: Store) -> None:
    parent, parts = await split_one(store)
    claimed = await take(store, State.QUEUED, 100.0, 10)
    assert {job.id for job in claimed} == {job.id for job in parts} | {parent.id + 1}
    assert all(job.part is not None for job in claimed if job.id != parent.id + 1)
    # No stage takes a job that was split: it waits for its parts.
    assert State.SPLIT not in STAGE_OF
    assert await store.count([State.QUEUED]) == 4


async def test_the_manifest_counts_and_lists_its_own_jobs_only(store: Store) -> None:
    parent, parts = await split_one(store)
    (status,) = await store.manifests()
    assert status.counts == {"split": 1, "queued": 1}
    assert [job.id for job in await store.manifest_jobs(parent.manifest_id)] == [
        parent.id,
        parent.id + 1,
    ]
    assert [job.id for job in await store.manifest_parts(parent.manifest_id)] == [
        job.id for job in parts
    ]
    failed: JobUpdate = {"state": State.FAILED, "error": "bad", "finished_at": 50.0}
    assert await store.update_job(parts[1].id, None, failed, 50.0)
    assert await store.recent_failures(5) == []
    assert await store.manifests_to_finish() == []


async def test_a_failed_part_cancels_its_siblings(store: Store) -> None:
    parent, parts = await split_one(store)
    done: JobUpdate = {"state": State.DONE, "finished_at": 40.0}
    assert await store.update_job(parts[0].id, None, done, 40.0)
    assert await store.cancel_parts_of(parent.id, "part 2 of 3 failed", 41.0) == 2
    states = [job.state for job in await store.parts_of(parent.id)]
    assert states == [State.DONE, State.CANCELLED, State.CANCELLED]
    assert (await store.parts_of(parent.id))[2].error == "part 2 of 3 failed"


async def test_cancel_takes_the_parts_and_retry_keeps_those_done(store: Store) -> None:
    parent, parts = await split_one(store)
    done: JobUpdate = {"state": State.DONE, "finished_at": 40.0}
    assert await store.update_job(parts[0].id, None, done, 40.0)
    assert await store.cancel_manifest("m", 50.0) == 2
    states = [job.state for job in await store.parts_of(parent.id)]
    assert states == [State.DONE, State.CANCELLED, State.CANCELLED]
    assert await store.manifests_to_finish() == [parent.manifest_id]
    assert await store.retry_manifest("m", 60.0) == 2
    again = await store.get_job(parent.id)
    assert again is not None
    # It waits for its parts again, as it was: it is not split a second time.
    assert again.state is State.SPLIT
    assert (again.content_hash, again.audio) == ("whole", WAV)
    states = [job.state for job in await store.parts_of(parent.id)]
    assert states == [State.DONE, State.QUEUED, State.QUEUED]
    (status,) = await store.manifests()
    assert status.counts == {"split": 1, "queued": 1}


async def test_a_retried_job_whose_parts_are_all_done_is_stitched(store: Store) -> None:
    parent, parts = await split_one(store)
    for job in parts:
        done: JobUpdate = {"state": State.DONE, "finished_at": 40.0}
        assert await store.update_job(job.id, None, done, 40.0)
    failed: JobUpdate = {"state": State.FAILED, "error": "disk", "finished_at": 41.0}
    assert await store.update_job(parent.id, None, failed, 41.0)
    assert await store.retry_manifest("m", 60.0) == 1
    again = await store.get_job(parent.id)
    assert again is not None
    assert again.state is State.FETCHING
