"""The watch's reads of every store: counts at each look, every job only now and then."""

from __future__ import annotations

from pathlib import Path

from orchestrator.core.jobs import State
from orchestrator.core.settings import RecognitionSettings
from orchestrator.pipeline.settings import PipelineSettings
from orchestrator.service.watching import JOBS_EVERY_S, ProgressReader
from orchestrator.store import JobUpdate, NewJob, Store


async def test_counts_are_fresh_and_jobs_are_read_now_and_then(
    store: Store, tmp_path: Path
) -> None:
    jobs = [NewJob(f"/a/{i}.ogg", f"o{i}", RecognitionSettings()) for i in range(2)]
    manifest_id, _ = await store.add_manifest("calls", "/m.yaml", "d", jobs, 100.0)
    clock = [0.0]
    reader = ProgressReader(store, PipelineSettings(output_root=tmp_path), lambda: clock[0])
    (first,) = await reader.read(lambda _m: True, 110.0)
    assert (first.ended, first.failures) == (0, ())
    assert first.eta_s is not None

    (job, _other) = await store.manifest_jobs(manifest_id)
    fields: JobUpdate = {"state": State.FAILED, "error": "no such file", "finished_at": 111.0}
    assert await store.update_job(job.id, None, fields, 111.0)
    (second,) = await reader.read(lambda _m: True, 112.0)
    assert (second.ended, second.failed) == (1, 1)  # the counts: at every look
    assert second.failures == ()  # the jobs: read again only later

    clock[0] += JOBS_EVERY_S
    (third,) = await reader.read(lambda _m: True, 113.0)
    assert third.failures == (("/a/0.ogg", "no such file"),)
