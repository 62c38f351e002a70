"""Killed with SIGKILL at any moment and started again, the daemon loses and repeats nothing."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tests.conftest import S3Server
from tests.support.daemon import emulated_daemon, eventually
from tests.support.wavs import make_wavs

pytestmark = pytest.mark.e2e

JOBS = 36
KILLS = 5


async def test_sigkill_many_times_then_everything_done_once(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    # A slow service and tight quotas: the run spans several quota windows, and restarts
    # land while uploads, submissions and polls are in flight.
    quotas = {"submit_quota": 12, "status_quota": 30, "quota_window_s": 2.0}
    async with emulated_daemon(
        tmp_path,
        s3_server,
        s3_bucket,
        speed=20,
        emulator_options=quotas,
        quotas={
            "submissions": 12,
            "status_checks": 30,
            "window_s": 2.0,
            "safety_margin": 0.1,
            "window_margin_s": 0.2,
        },
        concurrency={"uploads": 3},
    ) as (emu, env):
        names = make_wavs(env.root / "audio", JOBS)
        env.put_manifest("calls", [{"audio": n} for n in names], base_dir=env.root / "audio")

        rng = random.Random(3)
        seen = 0
        for _ in range(KILLS):
            daemon = await env.start()
            # Kill after a random number of new transitions: mid-upload, mid-submit, mid-poll.
            seen += rng.randint(8, 30)
            try:
                await env.wait_for_event("job.state", count=seen, limit_s=90)
            except AssertionError:
                if daemon.returncode is not None:
                    raise
            daemon.send_signal(signal.SIGKILL)
            assert await daemon.wait() == -signal.SIGKILL
            seen = len(env.events("job.state"))
        assert await env.run_until_idle(limit_s=180) == 0
        stats = emu.stats()

    report_path = env.results / "calls" / "report.json"
    assert report_path.exists(), env.output()[-3000:]
    report = json.loads(report_path.read_text("utf-8"))
    assert report["counts"] == {"done": JOBS}, report["failures"]

    # Each result written once, whatever the kills interrupted: a set found complete on
    # disk after a restart is not written again (a kill may fall between the write and
    # its log line, so such a job has no `job.written` line, only `job.already_written`).
    written = Counter(e["job_id"] for e in env.events("job.written"))
    found = {e["job_id"] for e in env.events("job.already_written")}
    assert set(written.values()) == {1}
    assert set(written) | found == set(range(1, JOBS + 1))
    for name in names:
        assert (env.results / "calls" / f"{Path(name).stem}.json").exists()

    # No object uploaded twice (a kill mid-upload leaves no object, so that is not a second).
    uploads = Counter(e["object_key"] for e in env.events("upload.done"))
    assert set(uploads.values()) == {1}

    # No 429 at any time: the quota ledger survived every restart.
    assert stats["throttled_total"] == 0, stats["throttled"]
    # No audio submitted twice, except a submission cut by a kill (logged as at-least-once).
    operations = stats["operations"].values()
    assert len(operations) == stats["summary"]["operations"]
    resubmitted = len(env.events("job.resubmitting"))
    assert stats["summary"]["operations"] <= JOBS + resubmitted
    # Status checks stay small per job even across restarts.
    assert stats["summary"]["status_checks"] <= JOBS * 4
    # Nothing uploaded is left behind.
    answer = s3_server.client().list_objects_v2(Bucket=s3_bucket)  # type: ignore[attr-defined]
    assert answer.get("KeyCount", 0) == 0
    await asyncio.sleep(0)


async def test_results_expired_while_down_are_recognised_again(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulated_daemon(
        tmp_path,
        s3_server,
        s3_bucket,
        speed=50,
        emulator_options={"ttl_s": 0.5},
        # A first check far too late: the daemon will be "down" past the results' TTL.
        polling={"initial_ratio": 1000.0},
        speechkit={"results_ttl_s": 0.5},
    ) as (emu, env):
        names = make_wavs(env.root / "audio", 3, seed=21)
        env.put_manifest("late", [{"audio": n} for n in names], base_dir=env.root / "audio")
        daemon = await env.start()
        await env.wait_for_event("job.state", count=3, to="running")
        daemon.send_signal(signal.SIGKILL)
        await daemon.wait()

        # Wait (on the emulator's own clock) until every operation is done and expired.
        async def expired() -> bool:
            ops = emu.stats()["operations"].values()
            return all(op["finished_at"] and op["finished_at"] + 0.5 < time.time() for op in ops)

        await eventually(expired)
        env.config["polling"] = {"initial_ratio": 10.0 / 60.0 / 50, "min_interval_s": 0.05}
        env.config_path.write_text(yaml.safe_dump(env.config), "utf-8")
        assert await env.run_until_idle() == 0
        stats = emu.stats()

    report = json.loads((env.results / "late" / "report.json").read_text("utf-8"))
    assert report["counts"] == {"done": 3}
    assert len(env.events("operation.expired")) == 3
    assert stats["summary"]["operations"] == 6  # each audio recognised again, once
