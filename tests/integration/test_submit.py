"""The submit stage in-process: a 429 from the service pauses the quota, and the work
still ends."""

from __future__ import annotations

from pathlib import Path

from orchestrator.core.quota import SUBMIT_QUOTA, QuotaSpec
from orchestrator.pipeline.settings import default_quotas
from tests.conftest import S3Server
from tests.support.emulator import emulator
from tests.support.pipeline import FILES, SPEED, add_manifest, rig, run_until_ended, settings


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
