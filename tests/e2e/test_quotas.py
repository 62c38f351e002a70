"""The daily audio quota: jobs beyond it wait, nothing fails."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.conftest import S3Server
from tests.support.daemon import emulated_daemon

pytestmark = pytest.mark.e2e


async def test_daily_audio_quota_holds_jobs_back(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    # 40 billable seconds a day: two short mono files (15 s each at the minimum) fit.
    async with emulated_daemon(
        tmp_path,
        s3_server,
        s3_bucket,
        quotas={"audio_hours_per_day": 40 / 3600, "safety_margin": 0.0},
    ) as (emu, env):
        names = ("greeting-mono.ogg", "podcast-mono.mp3", "voicemail-mono.wav")
        audio = env.copy_audio(names)
        env.put_manifest("daily", [{"audio": n} for n in names], base_dir=audio)
        daemon = await env.start()
        await env.wait_for_event("job.state", count=2, to="done")
        await env.wait_for_event("quota.paused", quota="audio")
        assert await env.stop(daemon, signal.SIGTERM) == 0
        status = await env.cli("status", "--json")
        stats = emu.stats()
    (manifest,) = json.loads(status.stdout)["manifests"]
    assert manifest["counts"] == {"done": 2, "uploaded": 1}
    assert stats["summary"]["operations"] == 2
    assert not env.events("job.failed")
