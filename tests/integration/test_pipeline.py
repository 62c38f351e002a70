"""The whole pipeline in-process (tests/support/pipeline.py): jobs from a manifest to their
transcripts, with what the service saw and what was learned."""

from __future__ import annotations

import json
from pathlib import Path

from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from orchestrator.core.quota import SUBMIT_QUOTA
from orchestrator.pipeline.learning import store_key
from orchestrator.speechkit.v2 import STATUS_CHECKS
from tests.conftest import S3Server
from tests.support.emulator import emulator
from tests.support.pipeline import FILES, SPEED, add_manifest, rig, run_until_ended, settings


async def test_jobs_run_to_done_with_one_submission_and_few_checks_each(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, audio: Path
) -> None:
    async with (
        emulator(s3_server, speed=SPEED) as emu,
        rig(tmp_path, s3_server, s3_bucket, emu.url) as r,
    ):
        await add_manifest(r.store, audio, FILES)
        pipeline = r.pipeline(settings(tmp_path))
        await pipeline.load_state()
        await run_until_ended(pipeline, r, len(FILES))
        stats = emu.stats()
        counts = await r.store.counts_by_state()
        submitted = await r.store.quota_spent(SUBMIT_QUOTA, 0.0)
        checks = await r.store.quota_spent(STATUS_CHECKS.name, 0.0)
        learned = await r.store.kv_get(store_key(("v2", "general")))
    assert counts == {"done": len(FILES)}
    assert stats["summary"]["operations"] == len(FILES)
    # The ledger holds each request the service saw: one submission per job, every check.
    assert len(submitted) == len(FILES)
    assert len(checks) == stats["summary"]["status_checks"]
    for name in FILES:
        document = json.loads((tmp_path / "results" / "m" / f"{Path(name).stem}.json").read_text())
        assert document["channels"]
    # What was learned is stored per (API, model), for the next run and for other daemons.
    assert learned is not None
    assert json.loads(learned)["observations"] == len(FILES)
    assert r.metrics.api_requests.value(endpoint="longRunningRecognize", status=200) == len(FILES)


# Events about one job (docs/operations.md): each names its manifest and the job.
JOB_EVENTS = {"job.state", "upload.done", "upload.skipped", "job.written", "job.already_written"}


async def test_every_line_of_a_step_names_its_manifest_and_job(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, audio: Path
) -> None:
    async with (
        emulator(s3_server, speed=SPEED) as emu,
        rig(tmp_path, s3_server, s3_bucket, emu.url) as r,
    ):
        await add_manifest(r.store, audio, FILES[:2])
        with capture_logs(processors=[merge_contextvars]) as events:
            await run_until_ended(r.pipeline(settings(tmp_path)), r, 2)
    ids = {job.id for job in r.ended}
    seen = [e for e in events if e["event"] in JOB_EVENTS]
    assert {e["event"] for e in seen} >= {"job.state", "upload.done", "job.written"}
    assert {(e["manifest"], e["job_id"]) for e in seen} == {("m", i) for i in ids}
