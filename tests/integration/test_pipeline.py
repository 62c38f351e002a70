"""The pipeline in-process: a real SQLite store in the test's directory, the emulator over
HTTP and moto's S3 server; no daemon process, so the parts can be watched from inside."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import aiohttp
import pytest
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from orchestrator.core.audio import object_suffix
from orchestrator.core.backoff import RetryPolicy
from orchestrator.core.constants import STORAGE_URL
from orchestrator.core.jobs import Job, Stage, State
from orchestrator.core.polling import PollingPolicy
from orchestrator.core.quota import SUBMIT_QUOTA, QuotaSpec
from orchestrator.core.settings import RecognitionSettings
from orchestrator.intake.audio import content_hash as content_hash_of
from orchestrator.intake.audio import probe
from orchestrator.pipeline.context import Context
from orchestrator.pipeline.lanes import Lane
from orchestrator.pipeline.learning import store_key
from orchestrator.pipeline.ledger import QuotaLedger
from orchestrator.pipeline.pipeline import Pipeline
from orchestrator.pipeline.scheduler import Scheduler
from orchestrator.pipeline.settings import PipelineSettings, default_quotas
from orchestrator.pipeline.work import InFlight
from orchestrator.speechkit.v2 import STATUS_CHECKS, V2Client
from orchestrator.storage.local import LocalStorage
from orchestrator.storage.protocol import ObjectStorage
from orchestrator.storage.s3 import S3Storage
from orchestrator.store import Claim, JobUpdate, NewJob
from orchestrator.store.sqlite import SQLiteStore
from orchestrator.telemetry.metrics import DaemonMetrics
from tests.conftest import S3Server
from tests.support.daemon import AUDIO, eventually
from tests.support.emulator import AUTH_HEADERS, DEFAULT_TEST_SPEED, emulator

SPEED = DEFAULT_TEST_SPEED
FILES = ("greeting-mono.ogg", "call-stereo.ogg", "voicemail-mono.wav")


def settings(tmp_path: Path, **overrides: object) -> PipelineSettings:
    """Settings scaled to the emulator's speed, as the end-to-end tests use."""
    base = PipelineSettings(
        output_root=tmp_path / "results",
        key_prefix="test/",
        delete_after_done=True,
        retry=RetryPolicy(max_attempts=8, base_delay_s=0.05, max_delay_s=0.5),
        polling=PollingPolicy(min_interval_s=0.05),
        initial_ratio=10.0 / 60.0 / SPEED,
        node="testnode",
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


@dataclass
class Rig:
    """A pipeline's outside worlds, for one test."""

    store: SQLiteStore
    storage: ObjectStorage
    client: V2Client
    metrics: DaemonMetrics
    ended: list[Job] = field(default_factory=list)
    wanted: int = 0
    all_ended: asyncio.Event = field(default_factory=asyncio.Event)

    def pipeline(self, config: PipelineSettings, owner: str | None = None) -> Pipeline:
        async def ended(job: Job) -> None:
            self.ended.append(job)
            if len(self.ended) >= self.wanted:
                self.all_ended.set()

        return Pipeline(
            self.store,
            self.storage,
            {"v2": self.client},
            config,
            metrics=self.metrics,
            owner=owner,
            on_job_ended=ended,
        )


@asynccontextmanager
async def rig(tmp_path: Path, s3: S3Server, bucket: str, emulator_url: str) -> AsyncIterator[Rig]:
    store = await SQLiteStore.open(tmp_path / "state" / "s.sqlite3")
    storage = S3Storage(
        s3.endpoint_url, s3.region, bucket, s3.access_key, s3.secret_key, STORAGE_URL
    )
    try:
        async with aiohttp.ClientSession() as session, storage:
            client = V2Client(session, emulator_url, emulator_url, AUTH_HEADERS, 10.0)
            yield Rig(store, storage, client, DaemonMetrics())
    finally:
        await store.close()


async def add_manifest(
    store: SQLiteStore, folder: Path, names: Sequence[str], name: str = "m"
) -> None:
    jobs = [NewJob(str(folder / n), Path(n).stem, RecognitionSettings()) for n in names]
    await store.add_manifest(name, f"/in/{name}.yaml", f"digest-{name}", jobs, 0.0)


async def run_until_ended(pipeline: Pipeline, rig_: Rig, count: int) -> None:
    """Run the pipeline until ``count`` jobs have ended (awaited, with a guard)."""
    rig_.wanted = count
    if len(rig_.ended) >= count:
        rig_.all_ended.set()
    stop = asyncio.Event()
    task = asyncio.create_task(pipeline.run(stop))
    try:
        async with asyncio.timeout(60):
            await rig_.all_ended.wait()
    finally:
        stop.set()
        await task


@pytest.fixture
def audio(tmp_path: Path) -> Path:
    folder = tmp_path / "audio"
    folder.mkdir()
    for name in FILES:
        shutil.copy(AUDIO / name, folder / name)
    return folder


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


async def test_the_same_audio_twice_is_recognised_once_and_written_twice(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, audio: Path
) -> None:
    async with (
        emulator(s3_server, speed=SPEED) as emu,
        rig(tmp_path, s3_server, s3_bucket, emu.url) as r,
    ):
        await add_manifest(r.store, audio, FILES[:1], "first")
        await add_manifest(r.store, audio, FILES[:1], "second")
        await run_until_ended(r.pipeline(settings(tmp_path)), r, 2)
        stats = emu.stats()
        cached = await r.store.get_result(r.ended[0].content_hash or "", r.ended[0].settings_key)
    assert stats["summary"]["operations"] == 1
    assert {job.manifest_name for job in r.ended} == {"first", "second"}
    for manifest in ("first", "second"):
        assert (tmp_path / "results" / manifest / "greeting-mono.json").exists()
    # The cache holds the normalised transcript, not one API's answer.
    assert cached is not None
    assert set(cached[1]) == {"transcript"}


async def test_a_429_pauses_the_quota_and_every_job_still_ends_done(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, audio: Path
) -> None:
    # The service allows fewer submissions than the config claims: it answers 429.
    quotas = {**default_quotas(), SUBMIT_QUOTA: QuotaSpec(100, 1.0)}
    async with (
        emulator(s3_server, speed=SPEED, submit_quota=1, quota_window_s=0.5) as emu,
        rig(tmp_path, s3_server, s3_bucket, emu.url) as r,
    ):
        await add_manifest(r.store, audio, FILES)
        await run_until_ended(r.pipeline(settings(tmp_path, quotas=quotas)), r, len(FILES))
        counts = await r.store.counts_by_state()
        paused = await r.store.quota_paused_until(SUBMIT_QUOTA)
    assert counts == {"done": len(FILES)}
    assert r.metrics.throttled.value(quota=SUBMIT_QUOTA) >= 1
    assert paused is not None


async def test_a_dead_daemons_job_is_taken_over_once_its_lease_runs_out(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, audio: Path
) -> None:
    async with (
        emulator(s3_server, speed=SPEED) as emu,
        rig(tmp_path, s3_server, s3_bucket, emu.url) as r,
    ):
        await add_manifest(r.store, audio, FILES[:1])
        # Another node's daemon claimed the job for a second, then died.
        claimed_at = time.time()
        dead = await r.store.claim(Claim((State.QUEUED,), 1, 1.0), "othernode:1:x", claimed_at)
        assert len(dead.jobs) == 1
        # Recovery on start releases no lease that may still be alive on another node...
        assert await r.store.recover("testnode", time.time()) == 0
        # ...and the job is taken over once that lease has run out, never left stuck.
        await run_until_ended(r.pipeline(settings(tmp_path, lease_s=1.0)), r, 1)
        job = await r.store.get_job(dead.jobs[0].id)
    assert job is not None
    assert job.state is State.DONE
    assert job.submissions == 1


async def test_the_heartbeat_keeps_a_long_step_leased(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "s.sqlite3")
    metrics = DaemonMetrics()
    job = NewJob("/a.ogg", "a", RecognitionSettings())
    await store.add_manifest("m", "/m.yaml", "d", [job], 0.0)
    release, started = asyncio.Event(), asyncio.Event()
    seen: list[Job] = []

    async def slow_step(job: Job, _entered: bool) -> None:
        seen.append(job)
        started.set()
        await release.wait()

    async def no_error(_stage: Stage, _job: Job, exc: Exception) -> None:
        raise AssertionError(f"the step failed: {exc}")

    work = InFlight()
    ctx = Context(
        store=store,
        storage=LocalStorage(tmp_path / "objects", "b"),  # the step here touches none
        clients={},
        settings=settings(tmp_path, lease_s=0.3),
        metrics=metrics,
        ledger=QuotaLedger(store, metrics, time.time),
        clock=time.time,
        rng=random.Random(0),
        owner="testnode:1:a",
        kick=work.kick,
    )
    scheduler = Scheduler(
        ctx,
        work,
        {Stage.UPLOAD: slow_step},
        lambda stage: [Lane(Stage.UPLOAD, None)] if stage is Stage.UPLOAD else [],
        no_error,
    )
    stop = asyncio.Event()
    loops = scheduler.loops(stop)
    try:
        async with asyncio.timeout(30):
            await started.wait()
        # Let three lease lengths pass while the step runs.
        await asyncio.sleep(0.9)
        # Another daemon finds the job still leased: the heartbeat renewed the lease.
        other = await store.claim(Claim((State.QUEUED,), 1, 60.0), "othernode:1:y", time.time())
        assert other.jobs == []
    finally:
        release.set()
        stop.set()
        scheduler.kick()
        await asyncio.gather(*loops, *scheduler.tasks)
        await store.close()
    assert len(seen) == 1


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
