"""API v2 as the real service behaves, through the daemon: the service's own failures are
submitted again, a young 404 never is, a 429 without Retry-After backs off longer each
time (the daily audio quota's too), and nothing recognised is reported as such rather
than as an empty transcript."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import S3Server
from tests.support.daemon import DaemonEnv, emulated_daemon
from tests.support.emulator import emulator
from tests.support.wavs import make_wavs, silent_wav

pytestmark = pytest.mark.e2e


async def test_the_services_own_failures_are_submitted_again(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    # Half the recognitions end with 14 UNAVAILABLE (not billed): each is submitted again.
    # Which ones depends on timing: with 12 jobs, none failing is a 1 in 4,096 chance, and
    # with 20 submissions allowed, one job failing every time is a 1 in 87,000 chance.
    faults = {"op_error_rate": 0.5, "op_error_codes": (14,), "seed": 3}
    async with emulated_daemon(
        tmp_path, s3_server, s3_bucket, emulator_options=faults, retry={"max_attempts": 20}
    ) as (emu, env):
        names = make_wavs(env.root / "audio", 12, seed=31)
        env.put_manifest("flaky", [{"audio": n} for n in names], base_dir=env.root / "audio")
        assert await env.run_until_idle() == 0
        stats = emu.stats()

    report = env.report("flaky")
    assert report["counts"] == {"done": 12}
    failed = [op for op in stats["operations"].values() if op["outcome"] == "error"]
    assert failed
    assert all(op["error_code"] == 14 for op in failed)
    resubmits = env.events("job.resubmit")
    assert len(resubmits) == len(failed)
    assert stats["summary"]["operations"] == 12 + len(failed)
    assert report["submissions"] == 12 + len(failed)
    for event in resubmits:
        assert event["level"] == "warning"
        assert event["reason"].startswith("recognition failed:")
        assert event["retry_in_s"] >= 0
        # What a support ticket quotes: our id of the status check, and the service's.
        assert event["client_request_id"]
        assert event["request_id"]


async def test_a_young_404_fails_the_job_and_is_never_resubmitted(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    # Status checks go to another service (a wrong operation_url): it knows no operation.
    async with (
        emulator(s3_server) as elsewhere,
        emulated_daemon(
            tmp_path, s3_server, s3_bucket, speechkit={"operation_url": elsewhere.url}
        ) as (emu, env),
    ):
        names = make_wavs(env.root / "audio", 2, seed=41)
        env.put_manifest("lost", [{"audio": n} for n in names], base_dir=env.root / "audio")
        assert await env.run_until_idle() == 0
        stats = emu.stats()

    report = env.report("lost")
    assert report["counts"] == {"failed": 2}
    for failure in report["failures"]:
        assert "not found" in failure["reason"]
        assert "Not submitted again, so it is not paid for twice" in failure["reason"]
    # One submission each: nothing recognised twice, nothing expired.
    assert stats["summary"]["operations"] == 2
    assert report["submissions"] == 2
    assert not env.events("operation.expired")
    for event in env.events("job.failed"):
        assert event["reason_class"] == "permanent"
        assert event["retryable"] is False
        assert event["client_request_id"]
        assert event["request_id"]


async def test_a_429_without_retry_after_backs_off_longer_each_time(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    # The service allows 2 submissions a second and sends no Retry-After (none is
    # documented); the daemon was told 50, so it meets 429s and must find its own pace.
    async with emulated_daemon(
        tmp_path,
        s3_server,
        s3_bucket,
        emulator_options={"submit_quota": 2, "quota_window_s": 1.0},
        quotas={"submissions": 50, "window_s": 1.0, "safety_margin": 0.0},
        retry={"base_delay_s": 0.5, "max_delay_s": 4.0},
    ) as (emu, env):
        names = make_wavs(env.root / "audio", 8, seed=51)
        env.put_manifest("busy", [{"audio": n} for n in names], base_dir=env.root / "audio")
        assert await env.run_until_idle() == 0
        stats = emu.stats()

    assert env.report("busy")["counts"] == {"done": 8}
    assert stats["throttled"]["submit"] > 0
    throttled = env.events("quota.throttled")
    assert throttled
    assert all(e["retry_after_s"] is None and e["client_request_id"] for e in throttled)
    pauses = [e for e in env.events("quota.paused") if e["quota"] == "submit"]
    by_strike = {e["strikes"]: e["paused_for_s"] for e in pauses}
    # Each 429 after a pause pauses longer (0.5 s doubled, at least 1 s): 1, 1, 2, 4...
    assert max(by_strike) >= 3, pauses
    assert by_strike[3] > by_strike[1]
    # A 429 spends no attempt: nobody failed for it.
    assert not env.events("job.failed")


async def test_the_services_daily_audio_quota_past_the_first_backoff_step_fails_nothing(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    # The service's audio quota (30 billable seconds a 6 s window here) is used up after
    # two files, and its 429 carries no Retry-After; it frees only well after the daemon's
    # first backoff step (1 s), which believes it has 10,000 hours a day.
    hours = 30 / 3600
    async with emulator(s3_server, audio_quota_hours=hours, audio_window_s=6.0) as emu:
        env = DaemonEnv.create(
            tmp_path,
            s3_server,
            s3_bucket,
            emu.url,
            # One submission each 0.3 s: the service has read each file before the next.
            quotas={"submissions": 1, "window_s": 0.3, "safety_margin": 0.0},
            retry={"base_delay_s": 0.5, "max_delay_s": 4.0},
        )
        names = make_wavs(env.root / "audio", 4, seed=71)
        env.put_manifest("daily", [{"audio": n} for n in names], base_dir=env.root / "audio")
        assert await env.run_until_idle() == 0
        stats = emu.stats()

    assert env.report("daily")["counts"] == {"done": 4}
    assert stats["throttled"]["audio"] >= 2
    # Four operations, no more: a refused submission is not a recognition, nor billed.
    assert stats["summary"]["operations"] == 4
    pauses = [e for e in env.events("quota.paused") if e["quota"] == "submit"]
    by_strike = {e["strikes"]: e["paused_for_s"] for e in pauses}
    assert max(by_strike) >= 3, pauses
    assert by_strike[3] > by_strike[1]
    # A 429 spends no attempt: nobody was retried or failed for it.
    assert not env.events("job.failed")
    assert not env.events("job.retry")


async def test_nothing_recognised_is_reported_not_an_empty_success(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulated_daemon(
        tmp_path, s3_server, s3_bucket, emulator_options={"v3_status_window_s": 1.0}
    ) as (emu, env):
        audio = env.root / "audio"
        audio.mkdir()
        silent_wav(audio / "silence.wav", 3.0)
        names = make_wavs(audio, 1, seed=61)
        env.put_manifest(
            "quiet",
            [
                {"audio": "silence.wav"},
                {"audio": "silence.wav", "api": "v3", "output": "silence-v3"},
                {"audio": names[0]},
            ],
            base_dir=audio,
        )
        assert await env.run_until_idle() == 0
        stats = emu.stats()

    # v2 ended without `chunks`, v3 with nothing but status lines.
    silent = [op for op in stats["operations"].values() if op["silent"]]
    assert len(silent) == 2
    report = env.report("quiet")
    assert report["counts"] == {"done": 3}
    assert sorted((n["output"], n["note"]) for n in report["notes"]) == [
        ("silence", "no speech recognised"),
        ("silence-v3", "no speech recognised"),
    ]
    text = (env.results / "quiet" / "report.txt").read_text("utf-8")
    assert "done, with a note:" in text
    assert "silence.wav: no speech recognised" in text
    empty = env.events("job.empty")
    assert len(empty) == 2
    assert all(e["level"] == "warning" and e["reason"] == "no speech recognised" for e in empty)
    # The outputs are still written, empty but valid.
    document = json.loads((env.results / "quiet" / "silence.json").read_text("utf-8"))
    assert document["channels"] == [{"channel": 1, "text": "", "utterances": [], "words": []}]
    assert (env.results / "quiet" / "silence.txt").read_text("utf-8") == ""
