"""The fetch stage in-process: transcripts written from the result cache, one
recognition for the same audio twice."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import S3Server
from tests.support.emulator import emulator
from tests.support.pipeline import FILES, SPEED, add_manifest, rig, run_until_ended, settings


async def test_the_same_audio_twice_is_recognised_once_and_written_twice(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, audio: Path
) -> None:
    async with (
        emulator(s3_server, speed=SPEED) as emu,
        rig(tmp_path, s3_server, s3_bucket, emu.url) as r,
    ):
        await add_manifest(r.store, audio, FILES[:1], "first")
        await add_manifest(r.store, audio, FILES[:1], "second")
        await run_until_ended(r.pipeline(settings(tmp_path)), r, 2)
        stats = emu.stats()
        cached = await r.store.get_result(r.ended[0].content_hash or "", r.ended[0].settings_key)
    assert stats["summary"]["operations"] == 1
    assert {job.manifest_name for job in r.ended} == {"first", "second"}
    for manifest in ("first", "second"):
        assert (tmp_path / "results" / manifest / "greeting-mono.json").exists()
    # The cache holds the normalised transcript, not one API's answer.
    assert cached is not None
    assert set(cached[1]) == {"transcript"}
