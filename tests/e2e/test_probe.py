"""`probe` against the emulator: the bucket, the credential and one round trip per API,
what it spends said first; a refused key and an unreachable bucket said plainly."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import S3Server
from tests.support.daemon import DaemonEnv
from tests.support.emulator import emulator

pytestmark = pytest.mark.e2e


async def test_probe_round_trips_every_api_and_cleans_up(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulator(s3_server) as emu:
        env = DaemonEnv.create(tmp_path, s3_server, s3_bucket, emu.url)
        result = await env.cli("probe")
        stats = emu.stats()
    assert result.returncode == 0, result
    lines = result.stdout.splitlines()
    # What it spends comes first: 15 s (a file's minimum) for each of the three APIs.
    assert lines[0].startswith("probe: a 1.5 s clip through v2, v3, asr_xml: at most 45 s")
    assert lines[1].startswith("ok: storage: uploaded speechkit-orchestrator/probe/")
    assert f"to bucket {s3_bucket} and read it back" in lines[1]
    for api, line in zip(("v2", "v3", "asr_xml"), lines[2:], strict=True):
        assert line.startswith(f"ok: {api}: recognised '[emulated]"), line
    # One recognition each, of the 1.5 s clip; v3's results deleted; the clip too.
    assert [op["audio_seconds"] for op in stats["operations"].values()] == [1.5, 1.5]
    assert [op["results_deleted"] for op in stats["operations"].values()] == [False, True]
    assert stats["asr_xml"]["recognitions"] == 1
    listed = s3_server.client().list_objects_v2(Bucket=s3_bucket)  # type: ignore[attr-defined]
    assert listed.get("KeyCount", 0) == 0
    assert "TEST_SPEECHKIT" not in result.stdout + result.stderr


async def test_probe_says_the_credential_is_refused_and_the_bucket_unreachable(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulator(s3_server) as emu:
        env = DaemonEnv.create(tmp_path, s3_server, s3_bucket, emu.url)
        env.env["TEST_SPEECHKIT_API_KEY"] = "a-key-the-service-does-not-know"
        refused = await env.cli("probe", "--api", "v2")
        env.update_config(storage={"bucket": "no-such-bucket-for-probe"})
        unreachable = await env.cli("probe", "--api", "v3")
    assert refused.returncode == 1
    assert "ok: storage:" in refused.stdout
    assert "error: credential: v2: the service refused it" in refused.stdout
    assert "a-key-the-service-does-not-know" not in refused.stdout + refused.stderr
    assert unreachable.returncode == 1
    assert "error: storage:" in unreachable.stdout
    assert "skipped: v3: the clip is not in the bucket" in unreachable.stdout
