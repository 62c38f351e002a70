"""``cancel`` through the real CLI beside the real daemon: a manifest whose jobs were only
cancelled finishes with them counted apart from failures, and is filed in ``processed/``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import S3Server
from tests.support.daemon import emulated_daemon

pytestmark = pytest.mark.e2e

# The emulator's operations never end within the test: the jobs wait until cancelled.
NEVER_S = 1e9


async def test_a_manifest_only_cancelled_is_processed_with_its_cancelled_counted_apart(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    options = {"processing_overhead_s": NEVER_S}
    async with emulated_daemon(tmp_path, s3_server, s3_bucket, emulator_options=options) as (
        _emu,
        env,
    ):
        audio = env.copy_audio(("greeting-mono.ogg", "call-stereo.ogg"))
        jobs = [{"audio": "greeting-mono.ogg"}, {"audio": "call-stereo.ogg"}]
        env.put_manifest("calls", jobs, base_dir=audio)
        daemon = await env.start()
        try:
            await env.wait_for_event("manifest.accepted", manifest="calls")
            cancel = await env.cli("cancel", "calls")
            assert cancel.returncode == 0, cancel.stderr
            assert "calls: 2 job(s) cancelled" in cancel.stdout
            [finished] = await env.wait_for_event("manifest.finished", manifest="calls")
        finally:
            assert await env.stop(daemon) == 0
    assert finished["failed"] == 0
    assert finished["cancelled"] == 2
    assert finished["counts"] == {"cancelled": 2}
    assert Path(finished["manifest_file"]).parent == env.root / "processed"
    assert "2 cancelled" in (env.results / "calls" / "report.txt").read_text("utf-8")
