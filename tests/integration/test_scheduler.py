"""The scheduler in-process: leases taken over once they run out, and renewed by the
heartbeat while a step runs."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

from orchestrator.core.jobs import Job, Stage, State
from orchestrator.core.settings import RecognitionSettings
from orchestrator.pipeline.context import Context
from orchestrator.pipeline.lanes import Lane
from orchestrator.pipeline.ledger import QuotaLedger
from orchestrator.pipeline.scheduler import Scheduler
from orchestrator.pipeline.work import InFlight
from orchestrator.storage.local import LocalStorage
from orchestrator.store import Claim, NewJob
from orchestrator.store.sqlite import SQLiteStore
from orchestrator.telemetry.metrics import DaemonMetrics
from tests.conftest import S3Server
from tests.support.emulator import emulator
from tests.support.pipeline import FILES, SPEED, add_manifest, rig, run_until_ended, settings


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
