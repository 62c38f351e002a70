"""Faults on every connection: retryable ones are retried, permanent ones fail the job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import S3Server
from tests.support.daemon import emulated_daemon
from tests.support.wavs import make_wavs

pytestmark = pytest.mark.e2e


async def test_5xx_resets_and_failed_operations(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    faults = {"error_5xx_rate": 0.2, "reset_rate": 0.1, "op_error_rate": 0.15, "seed": 11}
    async with emulated_daemon(
        tmp_path, s3_server, s3_bucket, speed=200, emulator_options=faults
    ) as (emu, env):
        names = make_wavs(env.root / "audio", 20, seed=5)
        env.put_manifest("noisy", [{"audio": n} for n in names], base_dir=env.root / "audio")
        assert await env.run_until_idle() == 0
        stats = emu.stats()

    report = json.loads((env.results / "noisy" / "report.json").read_text("utf-8"))
    counts = report["counts"]
    assert sum(counts.values()) == 20
    assert set(counts) <= {"done", "failed"}
    # Failed operations end with 13 (the service's trouble) or 3 (the audio's), evenly;
    # how many of each depends on timing (test_v2_realism makes sure of the resubmission).
    codes = [op["error_code"] for op in stats["operations"].values() if op["outcome"] == "error"]
    assert set(codes) <= {13, 3}
    # Only the audio's own failures fail a job, with the service's message...
    assert counts.get("failed", 0) == codes.count(3)
    for failure in report["failures"]:
        assert failure["reason"].startswith("recognition failed:")
    # ... the service's own are submitted again (each one once more).
    assert len(env.events("job.resubmit")) == codes.count(13)
    assert stats["summary"]["operations"] == 20 + codes.count(13)
    # Transient faults were met and retried, not turned into failures.
    assert sum(stats["faults"].values()) > 0
    assert env.events("job.retry")
    assert counts.get("done", 0) == 20 - codes.count(3)


async def test_a_429_pauses_the_quota_and_the_work_goes_on(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    # The service allows fewer submissions than the daemon was told: 429s must follow,
    # and the daemon must pause, honour Retry-After, and still finish everything.
    quota = {"submit_quota": 4, "quota_window_s": 1.0, "retry_after": True}
    async with emulated_daemon(
        tmp_path,
        s3_server,
        s3_bucket,
        speed=200,
        emulator_options=quota,
        quotas={"submissions": 50, "window_s": 1.0, "safety_margin": 0.0},
    ) as (emu, env):
        names = make_wavs(env.root / "audio", 12, seed=9)
        env.put_manifest("throttled", [{"audio": n} for n in names], base_dir=env.root / "audio")
        assert await env.run_until_idle() == 0
        stats = emu.stats()

    report = json.loads((env.results / "throttled" / "report.json").read_text("utf-8"))
    assert report["counts"] == {"done": 12}
    assert stats["throttled_total"] > 0
    throttled = env.events("quota.throttled")
    assert throttled
    assert all(e["level"] == "warning" and e["quota"] == "submit" for e in throttled)
    assert env.events("quota.paused")
    # A 429 spends no attempt: nobody failed for it.
    assert not env.events("job.failed")


async def test_wrong_credentials_fail_with_the_services_message(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulated_daemon(
        tmp_path, s3_server, s3_bucket, emulator_options={"api_keys": ("another-key",)}
    ) as (_emu, env):
        audio = env.copy_audio(("greeting-mono.ogg",))
        env.put_manifest("denied", [{"audio": "greeting-mono.ogg"}], base_dir=audio)
        assert await env.run_until_idle() == 0
    report = json.loads((env.results / "denied" / "report.json").read_text("utf-8"))
    (failure,) = report["failures"]
    # Retried with backoff (the operator may fix the key), then failed with the message.
    assert failure["reason"].startswith("gave up after 8 attempts")
    assert "401" in failure["reason"]
    assert len(env.events("job.retry")) == 7
    assert "test-emulator-api-key" not in env.output()
