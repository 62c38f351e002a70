"""A job split into parts, in-process over a real SQLite store, the emulator and S3: each
part of a real WAV file is uploaded by its own bytes, recognised as a job of its own, and
the whole job's outputs are written once, stitched; a part that fails fails the job; cancel,
retry and a restart lose nothing and recognise nothing twice."""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path
from typing import Any

from orchestrator.core.jobs import TERMINAL, Job, State
from orchestrator.core.parts import Part
from orchestrator.core.transcript import Transcript, Utterance, Word
from orchestrator.intake.audio import probe
from orchestrator.outputs.report import build_report
from orchestrator.pipeline.pipeline import Pipeline
from orchestrator.pipeline.prepare import identity
from orchestrator.speechkit import CATALOGUE
from orchestrator.store import Claim, JobUpdate
from orchestrator.store.sqlite import SQLiteStore
from tests.conftest import S3Server
from tests.support.emulator import emulator
from tests.support.pipeline import SPEED, add_manifest, rig, settings
from tests.support.waiting import poll_until
from tests.support.wavs import wav_bytes

RATE = 16000
SECONDS = 9
THREE = [Part(0, 3, 0.0, 3.0), Part(1, 3, 3.0, 6.0), Part(2, 3, 6.0, 9.0)]


def long_wav(folder: Path) -> Path:
    """A 9 s mono 16 kHz WAV of noise (the emulator recognises words in it throughout)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "long.wav"
    path.write_bytes(wav_bytes(random.Random(3).randbytes(RATE * SECONDS * 2), RATE, 1))
    return path


async def split_it(pipeline: Pipeline, store: SQLiteStore, path: Path) -> Job:
    """Take the manifest's job as the upload stage would and split it into three parts."""
    (job,) = (await store.claim(Claim((State.QUEUED,), 1, 60.0), "t:1:a", time.time())).jobs
    facts = probe(path)
    content_hash = identity(path, facts)
    await pipeline.transitions.split(
        job, THREE, time.time(), content_hash=content_hash, audio=facts
    )
    split = await store.get_job(job.id)
    assert split is not None
    assert split.state is State.SPLIT
    return split


async def run_until(
    pipeline: Pipeline, store: SQLiteStore, job_id: int, states: frozenset[State] = TERMINAL
) -> Job:
    """Run the pipeline until job ``job_id`` is in one of ``states``; the job then."""
    stop = asyncio.Event()
    task = asyncio.create_task(pipeline.run(stop))
    try:
        found = await poll_until(
            lambda: store.get_job(job_id),
            lambda job: job is not None and job.state in states,
            limit_s=60.0,
            what=f"job {job_id} in {sorted(states)}",
        )
    finally:
        stop.set()
        await task
    assert found is not None
    return found


def outputs(tmp_path: Path) -> dict[str, Any]:
    """The split job's JSON output."""
    document: dict[str, Any] = json.loads((tmp_path / "results/m/long.json").read_text())
    return document


def assert_stitched(document: dict[str, Any]) -> None:
    """Times continue across the parts: words in each third of the audio, in order."""
    (channel,) = document["channels"]
    starts = [word["start"] for word in channel["words"]]
    assert starts == sorted(starts)
    assert {int(start // 3) for start in starts} == {0, 1, 2}
    assert max(word["end"] for word in channel["words"]) <= SECONDS
    assert document["job"]["parts"] == 3
    assert len(document["raw"]["parts"]) == 3
    assert document["audio"]["duration_s"] == SECONDS


async def test_every_part_done_writes_the_whole_jobs_outputs_once_stitched(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    path = long_wav(tmp_path / "audio")
    async with (
        emulator(s3_server, speed=SPEED) as emu,
        rig(tmp_path, s3_server, s3_bucket, emu.url) as r,
    ):
        await add_manifest(r.store, path.parent, [path.name])
        pipeline = r.pipeline(settings(tmp_path))
        parent = await split_it(pipeline, r.store, path)
        done = await run_until(pipeline, r.store, parent.id)
        parts = await r.store.parts_of(parent.id)
        (status,) = await r.store.manifests()
        stats = emu.stats()
        report = build_report(
            status,
            await r.store.manifest_jobs(status.id),
            time.time(),
            CATALOGUE,
            await r.store.manifest_parts(status.id),
        )
    assert done.state is State.DONE
    assert stats["summary"]["operations"] == 3
    assert (report["jobs"], report["parts"], report["submissions"]) == (1, 3, 3)
    assert report["results"][0]["parts"] == 3
    # Each part uploaded and recognised by its own bytes: its own hash and object.
    assert [job.state for job in parts] == [State.DONE] * 3
    assert len({job.content_hash for job in parts} | {parent.content_hash}) == 4
    assert [round(job.audio.duration_s, 3) for job in parts if job.audio] == [3.0, 3.0, 3.0]
    assert status.counts == {"done": 1}
    assert_stitched(outputs(tmp_path))
    for suffix in ("txt", "srt", "vtt"):
        assert (tmp_path / f"results/m/long.{suffix}").read_text().strip()
    assert not list((tmp_path / "results/m").glob("*part*"))


async def test_a_part_failing_fails_the_job_naming_the_part(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    path = long_wav(tmp_path / "audio")
    async with (
        emulator(s3_server, speed=SPEED) as emu,
        rig(tmp_path, s3_server, s3_bucket, emu.url) as r,
    ):
        await add_manifest(r.store, path.parent, [path.name])
        pipeline = r.pipeline(settings(tmp_path))
        parent = await split_it(pipeline, r.store, path)
        # The file loses its last 2.5 s after the split: the third part cannot be read.
        with path.open("r+b") as f:
            f.truncate(44 + RATE * 2 * 13 // 2)
        failed = await run_until(pipeline, r.store, parent.id)
        parts = await r.store.parts_of(parent.id)
        (status,) = await r.store.manifests()
        to_finish = await r.store.manifests_to_finish()
    assert failed.state is State.FAILED
    assert failed.error is not None
    assert failed.error.startswith("part 3 of 3: ")
    assert "long.wav" in failed.error
    assert parts[2].state is State.FAILED
    assert all(job.state in TERMINAL for job in parts)
    assert status.counts == {"failed": 1}
    assert to_finish == [status.id]
    assert not (tmp_path / "results/m/long.json").exists()


async def test_cancel_then_retry_recognises_no_part_twice(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    path = long_wav(tmp_path / "audio")
    async with (
        emulator(s3_server, speed=SPEED) as emu,
        rig(tmp_path, s3_server, s3_bucket, emu.url) as r,
    ):
        await add_manifest(r.store, path.parent, [path.name])
        parent = await split_it(r.pipeline(settings(tmp_path)), r.store, path)
        first = await r.store.parts_of(parent.id)
        assert await r.store.cancel_manifest("m", time.time()) == 1
        parts = await r.store.parts_of(parent.id)
        assert [job.state for job in parts] == [State.CANCELLED] * 3
        (status,) = await r.store.manifests()
        assert status.counts == {"cancelled": 1}
        assert await r.store.retry_manifest("m", time.time()) == 1
        again = await r.store.get_job(parent.id)
        assert again is not None
        assert again.state is State.SPLIT
        done = await run_until(r.pipeline(settings(tmp_path)), r.store, parent.id)
        stats = emu.stats()
        after = await r.store.parts_of(parent.id)
    assert [job.id for job in after] == [job.id for job in first]
    assert done.state is State.DONE
    assert stats["summary"]["operations"] == 3
    assert_stitched(outputs(tmp_path))


async def test_a_restart_midway_continues_and_recognises_nothing_twice(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    path = long_wav(tmp_path / "audio")
    async with (
        emulator(s3_server, speed=SPEED) as emu,
        rig(tmp_path, s3_server, s3_bucket, emu.url) as r,
    ):
        await add_manifest(r.store, path.parent, [path.name])
        pipeline = r.pipeline(settings(tmp_path))
        parent = await split_it(pipeline, r.store, path)
        # The last part is held back an hour: the daemon stops with a part done and the
        # whole job still waiting, then starts again with the last part due.
        first, _, last = await r.store.parts_of(parent.id)
        later: JobUpdate = {"next_action_at": time.time() + 3600}
        assert await r.store.update_job(last.id, State.QUEUED, later, time.time())
        await run_until(pipeline, r.store, first.id, frozenset({State.DONE}))
        midway = await r.store.get_job(parent.id)
        assert midway is not None
        assert midway.state is State.SPLIT
        due: JobUpdate = {"next_action_at": time.time()}
        assert await r.store.update_job(last.id, State.QUEUED, due, time.time())
        await r.store.recover("testnode", time.time())
        done = await run_until(r.pipeline(settings(tmp_path)), r.store, parent.id)
        stats = emu.stats()
    assert done.state is State.DONE
    assert stats["summary"]["operations"] == 3
    assert_stitched(outputs(tmp_path))


async def test_a_restart_finds_every_part_done_and_stitches_them(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    path = long_wav(tmp_path / "audio")
    async with (
        emulator(s3_server, speed=SPEED) as emu,
        rig(tmp_path, s3_server, s3_bucket, emu.url) as r,
    ):
        await add_manifest(r.store, path.parent, [path.name])
        parent = await split_it(r.pipeline(settings(tmp_path)), r.store, path)
        # Every part ended done (its transcript kept) and the daemon died before the
        # whole job learnt it.
        now = time.time()
        for index, part in enumerate(await r.store.parts_of(parent.id)):
            said = Utterance(1, f"word{index}", 0.5, 1.0, (Word(f"word{index}", 0.5, 1.0),))
            transcript = Transcript((1,), (said,), raw={"n": index})
            payload = {"transcript": transcript.to_dict()}
            await r.store.put_result(f"h{index}", part.settings_key, f"op{index}", payload, now)
            fields: JobUpdate = {
                "state": State.DONE,
                "content_hash": f"h{index}",
                "finished_at": now,
            }
            assert await r.store.update_job(part.id, None, fields, now)
        done = await run_until(r.pipeline(settings(tmp_path)), r.store, parent.id)
        stats = emu.stats()
    assert done.state is State.DONE
    assert stats["summary"]["operations"] == 0
    document = outputs(tmp_path)
    (channel,) = document["channels"]
    assert [(u["text"], u["start"]) for u in channel["utterances"]] == [
        ("word0", 0.5),
        ("word1", 3.5),
        ("word2", 6.5),
    ]
    assert document["raw"] == {"parts": [{"n": 0}, {"n": 1}, {"n": 2}]}


async def test_retry_after_a_failed_part_recognises_only_the_parts_not_done(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    path = long_wav(tmp_path / "audio")
    whole = path.read_bytes()
    async with (
        emulator(s3_server, speed=SPEED) as emu,
        rig(tmp_path, s3_server, s3_bucket, emu.url) as r,
    ):
        await add_manifest(r.store, path.parent, [path.name])
        parent = await split_it(r.pipeline(settings(tmp_path)), r.store, path)
        # The last part cannot be read (the file is cut short) until the file is whole again.
        path.write_bytes(whole[: 44 + RATE * 2 * 6])
        first, _, last = await r.store.parts_of(parent.id)
        later: JobUpdate = {"next_action_at": time.time() + 3600}
        assert await r.store.update_job(last.id, State.QUEUED, later, time.time())
        await run_until(r.pipeline(settings(tmp_path)), r.store, first.id, frozenset({State.DONE}))
        due: JobUpdate = {"next_action_at": time.time()}
        assert await r.store.update_job(last.id, State.QUEUED, due, time.time())
        failed = await run_until(r.pipeline(settings(tmp_path)), r.store, parent.id)
        assert failed.error is not None
        assert failed.error.startswith("part 3 of 3: ")
        kept = {job.id: job for job in await r.store.parts_of(parent.id) if job.state is State.DONE}
        assert first.id in kept
        path.write_bytes(whole)
        assert await r.store.retry_manifest("m", time.time()) == 1
        done = await run_until(r.pipeline(settings(tmp_path)), r.store, parent.id)
        after = {job.id: job for job in await r.store.parts_of(parent.id)}
    assert done.state is State.DONE
    # The parts done before the retry were not recognised again.
    for job_id, job in kept.items():
        assert after[job_id].operation_id == job.operation_id
        assert after[job_id].finished_at == job.finished_at
    assert all(job.state is State.DONE for job in after.values())
    assert_stitched(outputs(tmp_path))
