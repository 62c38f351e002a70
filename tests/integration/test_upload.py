"""The upload stage in-process: a bounded buffer ahead of submissions, and uploads a
crash left half done taken up again."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from orchestrator.core.audio import object_suffix
from orchestrator.core.jobs import State
from orchestrator.core.quota import SUBMIT_QUOTA, QuotaSpec
from orchestrator.intake.audio import content_hash as content_hash_of
from orchestrator.intake.audio import probe
from orchestrator.pipeline.settings import default_quotas
from orchestrator.store import Claim, JobUpdate
from tests.conftest import S3Server
from tests.support.daemon import eventually
from tests.support.emulator import emulator
from tests.support.pipeline import FILES, SPEED, add_manifest, rig, run_until_ended, settings


async def test_uploads_run_only_a_bounded_buffer_ahead_of_submissions(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, audio: Path
) -> None:
    # One submission per half minute: the rest of the batch waits on the quota, and only
    # `upload_ahead` of it is uploaded meanwhile.
    quotas = {**default_quotas(), SUBMIT_QUOTA: QuotaSpec(1, 30.0)}
    config = settings(tmp_path, quotas=quotas, upload_ahead=1)
    names = [f"copy-{i}.ogg" for i in range(4)]
    for i, name in enumerate(names):
        # Distinct content (a different tail), so no two jobs share a recognition.
        (audio / name).write_bytes((audio / FILES[0]).read_bytes() + bytes([i]) * (i + 1))
    async with (
        emulator(s3_server, speed=SPEED) as emu,
        rig(tmp_path, s3_server, s3_bucket, emu.url) as r,
    ):
        await add_manifest(r.store, audio, names)
        pipeline = r.pipeline(config)
        stop = asyncio.Event()
        task = asyncio.create_task(pipeline.run(stop))
        settled = {"done": 1, "uploaded": 1, "queued": 2}
        try:

            async def buffer_full() -> bool:
                return await r.store.counts_by_state() == settled

            # The first job is submitted and done; one more uploaded, two left queued.
            await eventually(buffer_full, limit_s=25.0)
            objects = s3_server.client().list_objects_v2(Bucket=s3_bucket)  # type: ignore[attr-defined]
        finally:
            stop.set()
            await task
    # The done job's object was deleted; the one waiting is the only one in the bucket.
    assert objects.get("KeyCount", 0) == 1


async def test_jobs_a_crash_left_mid_upload_are_taken_up_though_they_fill_the_buffer(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, audio: Path
) -> None:
    # A killed daemon left as many jobs uploading as `upload_ahead` allows: they count
    # against the buffer, yet they are the very jobs the upload stage must take up again.
    config = settings(tmp_path, upload_ahead=2)
    async with (
        emulator(s3_server, speed=SPEED) as emu,
        rig(tmp_path, s3_server, s3_bucket, emu.url) as r,
    ):
        await add_manifest(r.store, audio, FILES)
        dead = await r.store.claim(Claim((State.QUEUED,), 2, 60.0), "testnode:1:dead", time.time())
        for job in dead.jobs:
            # As its upload step does: probe, settle the object, enter `uploading`; killed.
            facts = probe(Path(job.source))
            content_hash = content_hash_of(Path(job.source), facts)
            key = r.storage.object_key("test/", content_hash, object_suffix(facts.encoding))
            fields: JobUpdate = {"state": State.UPLOADING, "audio": facts, "object_key": key}
            fields["content_hash"] = content_hash
            assert await r.store.update_job(
                job.id, State.QUEUED, fields, time.time(), keep_lease=True
            )
        assert await r.store.counts_by_state() == {"uploading": 2, "queued": 1}
        assert await r.store.recover("testnode", time.time()) == 2
        await run_until_ended(r.pipeline(config), r, len(FILES))
        counts = await r.store.counts_by_state()
    assert counts == {"done": len(FILES)}, [job.error for job in r.ended]
