"""The bucket's gate against moto's real S3 server: a missing bucket closes it (said once,
the gauge at 0, a problem for /healthz), checks go on with backoff, and creating the
bucket opens it (said once, the stages woken)."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import replace
from pathlib import Path

from structlog.testing import capture_logs

from orchestrator.core.backoff import RetryPolicy
from orchestrator.pipeline.bucket import MAX_RECHECK_S, BucketGate
from orchestrator.pipeline.settings import PipelineSettings
from orchestrator.storage.s3 import S3Storage
from orchestrator.telemetry.metrics import DaemonMetrics
from tests.conftest import S3Server
from tests.support.waiting import poll_until

SETTINGS = PipelineSettings(
    output_root=Path("/out"),
    key_prefix="audio",
    retry=RetryPolicy(base_delay_s=0.05, max_delay_s=0.2),
)


def _storage(s3: S3Server, bucket: str) -> S3Storage:
    return S3Storage(
        s3.endpoint_url, s3.region, bucket, s3.access_key, s3.secret_key, "https://x.test"
    )


async def test_a_missing_bucket_closes_the_gate_until_it_is_created(s3_server: S3Server) -> None:
    bucket = f"later-{uuid.uuid4().hex[:8]}"
    metrics = DaemonMetrics()
    opened: list[bool] = []
    stop = asyncio.Event()
    async with _storage(s3_server, bucket) as storage:
        gate = BucketGate(
            storage, metrics, lambda: SETTINGS, asyncio.get_running_loop().time, random.Random(1)
        )
        gate.on_open = lambda: opened.append(True)
        with capture_logs() as logs:
            assert not await gate.check()
            assert not await gate.check()  # checked again: still closed, not said again
            problem = gate.problem()
            assert metrics.storage_ok.value() == 0
            runner = asyncio.create_task(gate.run(stop))
            # Re-checked with backoff meanwhile...
            await poll_until(
                lambda: asyncio.sleep(0, gate.closed.checks if gate.closed else 0),
                lambda checks: checks >= 4,
                what="re-checks of the closed bucket",
            )
            s3_server.client().create_bucket(  # type: ignore[attr-defined]
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": s3_server.region}
            )
            # ...until one finds it there.
            await poll_until(lambda: asyncio.sleep(0, gate.open), bool, what="the gate open")
            stop.set()
            await runner
    assert problem is not None
    assert problem.startswith(f"storage (bucket {bucket}): ")
    assert "NoSuchBucket" in problem
    assert s3_server.secret_key not in problem
    assert gate.problem() is None
    assert metrics.storage_ok.value() == 1
    assert opened == [True]
    events = [e for e in logs if e["event"].startswith("storage.")]
    assert [e["event"] for e in events] == ["storage.unavailable", "storage.available"]
    assert events[0]["bucket"] == bucket
    assert events[0]["code"] == "NoSuchBucket"
    assert events[1]["checks"] >= 4
    # The check wrote its object, then deleted it: nothing is left in the bucket.
    listing = s3_server.client().list_objects_v2(Bucket=bucket)  # type: ignore[attr-defined]
    assert listing.get("Contents", []) == []


async def test_the_recheck_delay_grows_to_its_cap(s3_server: S3Server) -> None:
    slow = replace(SETTINGS, retry=RetryPolicy(base_delay_s=2.0, max_delay_s=600.0))
    async with _storage(s3_server, "nowhere-" + uuid.uuid4().hex[:8]) as storage:
        gate = BucketGate(storage, DaemonMetrics(), lambda: slow, lambda: 0.0, random.Random(1))
        delays = []
        for _ in range(8):
            await gate.check()
            delays.append(gate.delay())
    assert delays[0] < delays[3]
    assert all(1.0 <= d <= MAX_RECHECK_S for d in delays)
    assert delays[-1] >= MAX_RECHECK_S / 2


async def test_a_reload_checks_at_once_whatever_the_delay(s3_server: S3Server) -> None:
    """The next re-check is 30 s away at least (its delay's jittered half of 60 s); the
    recheck a reload asks for runs now."""
    slow = replace(SETTINGS, retry=RetryPolicy(base_delay_s=600.0, max_delay_s=600.0))
    bucket = f"later-{uuid.uuid4().hex[:8]}"
    stop = asyncio.Event()
    async with _storage(s3_server, bucket) as storage:
        gate = BucketGate(storage, DaemonMetrics(), lambda: slow, lambda: 0.0, random.Random(1))
        assert not await gate.check()
        runner = asyncio.create_task(gate.run(stop))
        await poll_until(
            lambda: asyncio.sleep(0, gate.closed.checks if gate.closed else 0),
            lambda checks: checks >= 2,
            what="the re-check the closing asks for",
        )
        assert gate.delay() >= MAX_RECHECK_S / 2
        create_bucket = s3_server.client().create_bucket  # type: ignore[attr-defined]
        create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": s3_server.region}
        )
        gate.recheck()
        # A guard well under the delay: only the recheck can open it in time.
        await poll_until(
            lambda: asyncio.sleep(0, gate.open),
            bool,
            limit_s=MAX_RECHECK_S / 4,
            what="the gate open",
        )
        stop.set()
        await runner
