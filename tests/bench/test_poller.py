"""The baseline poller against the real emulator (over HTTP) and a real S3 server."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.oggopus import silent_opus
from bench.poller import Poller, PollerJob, PollerSpec, request_body
from bench.schedules import by_key
from tests.conftest import S3Server
from tests.support.emulator import TEST_API_KEY, emulator, object_uri

SPEED = 1000.0


def upload(s3: S3Server, bucket: str, seconds: list[float]) -> list[PollerJob]:
    """Silent Ogg Opus files of these lengths in ``bucket``, as the poller's jobs."""
    client = s3.client()
    jobs = []
    for index, length in enumerate(seconds):
        key = f"baseline/silence-{index}.ogg"
        data = silent_opus(length, comments=(f"test={index}",))
        client.put_object(Bucket=bucket, Key=key, Body=data)  # type: ignore[attr-defined]
        jobs.append(PollerJob(uri=object_uri(bucket, key), audio_s=length, encoding="OGG_OPUS"))
    return jobs


def spec(key: str, url: str, jobs: list[PollerJob], speed: float = SPEED) -> PollerSpec:
    """A spec for the poller of baseline ``key``."""
    return PollerSpec(
        schedule=key, emulator_url=url, jobs=jobs, speed=speed, sample_rate=8000, seed=1
    )


def test_the_request_is_the_documented_one_for_each_encoding() -> None:
    ogg = request_body(PollerJob("https://storage.yandexcloud.net/b/k", 60.0, "OGG_OPUS"), 8000)
    assert ogg == {
        "config": {
            "specification": {
                "languageCode": "ru-RU",
                "model": "general",
                "audioEncoding": "OGG_OPUS",
            }
        },
        "audio": {"uri": "https://storage.yandexcloud.net/b/k"},
    }
    pcm = request_body(PollerJob("https://storage.yandexcloud.net/b/k", 60.0, "LINEAR16_PCM"), 8000)
    assert pcm["config"]["specification"]["sampleRateHertz"] == 8000
    assert pcm["config"]["specification"]["audioChannelCount"] == 1


def test_a_spec_survives_the_trip_through_its_file(tmp_path: Path) -> None:
    original = spec("azure", "http://127.0.0.1:1", [PollerJob("u", 1.5, "OGG_OPUS")])
    original.dump(tmp_path / "spec.json")
    assert PollerSpec.load(tmp_path / "spec.json") == original


async def test_every_job_is_submitted_and_seen_done(s3_server: S3Server, s3_bucket: str) -> None:
    jobs = upload(s3_server, s3_bucket, [30.0, 60.0, 90.0])
    async with emulator(s3_server, speed=SPEED) as emu:
        counts = await Poller(spec("docs", emu.url, jobs), by_key("docs"), TEST_API_KEY).run()
        stats = emu.stats()
    assert (counts.submits, counts.done, counts.gave_up, counts.errors) == (3, 3, 0, [])
    assert stats["summary"]["succeeded"] == 3
    assert all(op["first_check_after_done"] for op in stats["operations"].values())
    assert counts.checks == stats["summary"]["status_checks"]


async def test_a_refused_submission_waits_and_is_sent_again(
    s3_server: S3Server, s3_bucket: str
) -> None:
    jobs = upload(s3_server, s3_bucket, [6.0, 6.0])
    # One submission per 0.2 s window: the second is refused once, with a Retry-After.
    async with emulator(
        s3_server, speed=SPEED, submit_quota=1, quota_window_s=0.2, retry_after=True
    ) as emu:
        counts = await Poller(spec("docs", emu.url, jobs), by_key("docs"), TEST_API_KEY).run()
        stats = emu.stats()
    assert (counts.submits, counts.done, counts.errors) == (2, 2, [])
    assert counts.throttled >= 1
    assert counts.throttled_with_retry_after == counts.throttled
    assert stats["throttled"]["submit"] == counts.throttled
    assert stats["summary"]["operations"] == 2


async def test_speechkitty_gives_up_on_a_job_that_outlasts_its_ten_checks(
    s3_server: S3Server, s3_bucket: str
) -> None:
    # One slot: the second 6-minute file waits 60 s behind the first, far past the 60 s +
    # 27 s SpeechKitty waits for it; the first has those 27 s (0.27 s wall at x100) to
    # be fetched from S3 and finish.
    jobs = upload(s3_server, s3_bucket, [360.0, 360.0])
    speed = 100.0
    async with emulator(s3_server, speed=speed, max_concurrent=1, processing_noise=0.0) as emu:
        plan = spec("speechkitty", emu.url, jobs, speed)
        poller = Poller(plan, by_key("speechkitty"), TEST_API_KEY)
        counts = await poller.run()
        stats = emu.stats()
    assert (counts.submits, counts.done, counts.gave_up) == (2, 1, 1)
    assert counts.errors == []
    checks = sorted(op["status_checks"] for op in stats["operations"].values())
    assert checks[-1] == 10


@pytest.mark.parametrize("key", ["serverless", "azure", "ai-studio-sdk"])
async def test_every_backlog_baseline_finishes_its_jobs(
    key: str, s3_server: S3Server, s3_bucket: str
) -> None:
    jobs = upload(s3_server, s3_bucket, [45.0, 75.0])
    async with emulator(s3_server, speed=SPEED) as emu:
        counts = await Poller(spec(key, emu.url, jobs), by_key(key), TEST_API_KEY).run()
    assert (counts.submits, counts.done, counts.gave_up, counts.errors) == (2, 2, 0, [])


async def test_a_refusal_without_retry_after_backs_off_and_is_sent_again(
    s3_server: S3Server, s3_bucket: str
) -> None:
    jobs = upload(s3_server, s3_bucket, [6.0, 6.0])
    # As the real service: no Retry-After on a 429. The poller backs off on its own. The
    # window is long enough that the second submission falls in it on a busy machine too.
    async with emulator(s3_server, speed=SPEED, submit_quota=1, quota_window_s=1.0) as emu:
        counts = await Poller(spec("docs", emu.url, jobs), by_key("docs"), TEST_API_KEY).run()
    assert (counts.submits, counts.done, counts.errors) == (2, 2, [])
    assert counts.throttled >= 1
    assert counts.throttled_with_retry_after == 0
