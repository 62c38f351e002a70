"""Any recording in, through the real daemon (the CLI as a subprocess, the emulator, moto's
S3 server): every format the service refuses is converted to Ogg Opus and recognised,
`convert: never` keeps today's refusals, and a recording longer than a part may be is cut
into parts recognised on their own and stitched back into one job's outputs, a kill -9
between its parts losing nothing and converting nothing twice."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import S3Server
from tests.support.daemon import DaemonEnv, emulated_daemon
from tests.support.formats import FORMATS, fixture, long_wav, write

pytestmark = pytest.mark.e2e

# Every format of tests/support/formats.py, and the two PyAV cannot write.
EVERY_FORMAT = (*FORMATS, "gsm", "amr")


def make_every_format(folder: Path) -> dict[str, Path]:
    """One short file of each format in ``folder``, by name."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {name: write(folder, name) for name in FORMATS}
    for name, committed in (("gsm", "gsm.wav"), ("amr", "tone.amr")):
        target = folder / f"{name}{Path(committed).suffix}"
        target.write_bytes(fixture(committed).read_bytes())
        made[name] = target
    return made


def document(env: DaemonEnv, manifest: str, output: str) -> dict[str, Any]:
    """A job's JSON output."""
    path = env.results / manifest / f"{output}.json"
    loaded: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return loaded


async def test_validate_says_what_is_done_and_convert_never_refuses(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulated_daemon(tmp_path, s3_server, s3_bucket) as (_emu, env):
        made = make_every_format(tmp_path / "audio")
        jobs = [{"audio": str(path), "output": name} for name, path in made.items()]
        manifest = tmp_path / "formats.yaml"
        manifest.write_text(json.dumps({"name": "formats", "jobs": jobs}), "utf-8")
        accepted = await env.cli("validate", "--json", str(manifest))
        refusing = tmp_path / "never.yaml"
        refusing.write_text(
            json.dumps({"name": "never", "defaults": {"convert": "never"}, "jobs": jobs}),
            "utf-8",
        )
        refused = await env.cli("validate", str(refusing))
    assert accepted.returncode == 0, accepted.stderr
    (found,) = json.loads(accepted.stdout)["manifests"]
    said = {item["audio"]: item["done"] for item in found["prepared"]}
    for name, path in made.items():
        assert said[str(path)].endswith("converted to Ogg Opus"), (name, said[str(path)])
    assert said[str(made["mulaw"])] == "µ-law WAV, 8 kHz, 2 channels: converted to Ogg Opus"
    # Refused as before conversion existed: one problem per file, naming it.
    assert refused.returncode == 2
    for path in made.values():
        assert f"audio: {path}: " in refused.stderr, path
    assert "converted" not in refused.stderr


async def test_every_format_is_converted_and_recognised(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulated_daemon(tmp_path, s3_server, s3_bucket) as (emu, env):
        made = make_every_format(tmp_path / "audio")
        jobs: list[dict[str, Any]] = [
            {"audio": str(path), "output": name} for name, path in made.items()
        ]
        # A stereo telephony call: one channel per speaker, each transcribed.
        jobs[list(made).index("mulaw")]["channel_names"] = ["agent", "customer"]
        env.put_manifest("formats", jobs)
        assert await env.run_until_idle() == 0
        stats = emu.stats()
    report = env.report("formats")
    assert report["counts"] == {"done": len(EVERY_FORMAT)}, report.get("failures")
    for name in EVERY_FORMAT:
        doc = document(env, "formats", name)
        channels = FORMATS[name].channels if name in FORMATS else 1
        assert doc["audio"]["channels"] == channels, name
        assert any(channel["words"] for channel in doc["channels"]), name
    call = document(env, "formats", "mulaw")
    assert [channel.get("name") for channel in call["channels"]] == ["agent", "customer"]
    for who in ("agent", "customer"):
        assert (env.results / "formats" / f"mulaw.{who}.txt").read_text("utf-8").strip()
    # The service heard each recording whole: its length read from the Ogg Opus sent.
    operations = list(stats["operations"].values())
    assert len(operations) == len(EVERY_FORMAT)
    assert all(op["audio_seconds"] > 0.5 for op in operations), operations
    converted = env.events("audio.converted")
    assert len(converted) == len(EVERY_FORMAT)
    assert all(e["converted_bytes"] > 0 for e in converted)


async def test_a_recording_longer_than_a_part_is_split_and_stitched(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    limits = {"max_part_s": 20.0}
    async with emulated_daemon(tmp_path, s3_server, s3_bucket, audio=limits) as (_emu, env):
        folder = tmp_path / "audio"
        folder.mkdir()
        wav = long_wav(folder / "long.wav", 50, rate=16000, channels=2)
        flac = write(folder, "flac", seconds=45.0)
        clip = long_wav(folder / "clip.wav", 45, rate=16000, channels=1)
        env.put_manifest(
            "long",
            [
                {"audio": str(wav), "output": "wav", "channel_names": ["left", "right"]},
                {"audio": str(flac), "output": "flac", "outputs": ["json", "txt", "srt"]},
                # Over asr_xml's 30 s (and the 20 s parts): each part converted, for the
                # request carries a file.
                {"audio": str(clip), "output": "clip", "api": "asr_xml", "outputs": ["json"]},
            ],
        )
        assert await env.run_until_idle(limit_s=240) == 0
    report = env.report("long")
    assert report["counts"] == {"done": 3}, report.get("failures")
    assert report["jobs_split"] == 3
    assert report["parts"] >= 9  # 50 s and twice 45 s, in parts of at most 20 s
    sent = document(env, "long", "clip")
    assert sent["job"]["parts"] == 3
    assert sent["channels"][0]["text"]
    # Every converted file went once sent (uploaded, or for asr_xml once recognised).
    assert not list((tmp_path / "state" / "converted").iterdir())
    for output, duration in (("wav", 50.0), ("flac", 45.0)):
        doc = document(env, "long", output)
        assert doc["job"]["parts"] >= 3
        for channel in doc["channels"]:
            starts = [u["start"] for u in channel["utterances"]]
            assert starts == sorted(starts)
            # The times go on across the parts, up to the recording's end.
            ends = [u["end"] for u in channel["utterances"]]
            assert duration - 10.0 < max(ends) <= duration + 0.5, (output, ends)
    # The same files an unsplit job gets.
    names = sorted(p.name for p in (env.results / "long").iterdir())
    for name in ("wav.left.txt", "wav.right.txt", "wav.srt", "flac.srt", "flac.ch2.txt"):
        assert name in names, names
    srt = (env.results / "long" / "flac.srt").read_text("utf-8")
    assert "00:00:4" in srt  # a cue past 40 s


async def test_a_kill_between_parts_loses_nothing_and_converts_nothing_twice(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    limits = {"max_part_s": 15.0}
    async with emulated_daemon(tmp_path, s3_server, s3_bucket, audio=limits) as (_emu, env):
        folder = tmp_path / "audio"
        folder.mkdir()
        flac = write(folder, "flac", seconds=60.0)
        env.put_manifest("killed", [{"audio": str(flac), "output": "talk"}])
        daemon = await env.start()
        # Killed once some parts are converted (and uploaded), before all are done.
        await env.wait_for_event("audio.converted", count=2, limit_s=120)
        daemon.send_signal(signal.SIGKILL)
        await asyncio.wait_for(daemon.wait(), 30)
        assert await env.run_until_idle(limit_s=240) == 0
    report = env.report("killed")
    assert report["counts"] == {"done": 1}, report.get("failures")
    parts = report["parts"]
    assert parts >= 4
    # Each part converted once: a part converted before the kill was found made, or found
    # uploaded (then not even looked for), after it.
    converted = [e["part"] for e in env.events("audio.converted")]
    assert len(converted) == len(set(converted)), converted
    found = [e["part"] for e in env.events("audio.conversion_found")]
    assert set(converted) | set(found) == {f"part {i + 1} of {parts}" for i in range(parts)}
    doc = document(env, "killed", "talk")
    starts = [u["start"] for c in doc["channels"] for u in c["utterances"]]
    assert max(starts) > 45.0
