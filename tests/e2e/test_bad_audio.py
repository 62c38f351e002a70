"""Bad audio through the real CLI (the emulator, moto's S3 server): `validate` refuses each
bad file with one line naming it, and the daemon, given the same manifest straight in its
inbox, fails each bad job with a one-line reason naming the file while every good one is
recognised and the daemon goes on to exit 0. Nothing quotes a file's bytes, nothing prints
a traceback."""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

import pytest

from tests.conftest import S3Server
from tests.support.daemon import emulated_daemon
from tests.support.formats import video_only, write

pytestmark = pytest.mark.e2e

# Planted in the bad files' bytes: no message may quote it.
MARKER = b"QZX-BAD-AUDIO-MARKER"


def cut(path: Path, name: str) -> Path:
    """The first half of ``path``, as a copy called ``name``."""
    data = path.read_bytes()
    target = path.with_name(name)
    target.write_bytes(data[: len(data) // 2])
    return target


def liar_wav(alaw: Path) -> Path:
    """The first kilobyte of an A-law WAV, its data chunk claiming 100 hours."""
    data = bytearray(alaw.read_bytes()[:1024])
    struct.pack_into("<I", data, data.find(b"data") + 4, 8000 * 3600 * 100)
    target = alaw.with_name("liar.wav")
    target.write_bytes(bytes(data))
    return target


def liar_aiff(aiff: Path) -> Path:
    """The first kilobyte of a 16 kHz AIFF, its COMM chunk claiming 70 hours of frames (as
    many as its 32-bit count holds at that rate)."""
    data = bytearray(aiff.read_bytes()[:1024])
    struct.pack_into(">I", data, data.find(b"COMM") + 10, 16000 * 3600 * 70)
    target = aiff.with_name("liar.aiff")
    target.write_bytes(bytes(data))
    return target


def make_files(folder: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    """The good files and the bad ones, by name."""
    folder.mkdir()
    good = {name: write(folder, name) for name in ("flac", "mulaw", "alaw", "aiff")}
    noise = folder / "noise.m4a"
    noise.write_bytes(MARKER + random.Random(18).randbytes(4096))
    notes = folder / "notes.m4a"
    notes.write_bytes(MARKER + b" minutes of the meeting\n" * 40)
    bad = {
        "noise": noise,
        "cut-mulaw": cut(good["mulaw"], "cut-mulaw.wav"),
        "cut-aiff": cut(good["aiff"], "cut-aiff.aiff"),
        "liar-wav": liar_wav(good["alaw"]),
        "liar-aiff": liar_aiff(good["aiff"]),
        "video": video_only(folder),
        "notes": notes,
    }
    # A truncated FLAC whose header is believable: validate reads headers, it does not
    # decode whole files, so only the daemon's conversion finds the damage.
    late = {"cut-flac": cut(good["flac"], "cut-flac.flac")}
    return good, {**bad, **late}


def assert_clean(text: str) -> None:
    """No traceback, no quoted bytes."""
    assert "Traceback" not in text
    assert MARKER.decode() not in text


async def test_validate_refuses_bad_audio_and_the_daemon_fails_only_those_jobs(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulated_daemon(tmp_path, s3_server, s3_bucket) as (_emu, env):
        good, bad = make_files(tmp_path / "audio")
        files = {**good, **bad}
        jobs = [{"audio": str(path), "output": name} for name, path in files.items()]
        manifest = tmp_path / "bad.json"
        manifest.write_text(json.dumps({"name": "bad", "jobs": jobs}), "utf-8")
        checked = await env.cli("validate", str(manifest))
        env.put_manifest("bad", jobs)
        assert await env.run_until_idle(limit_s=180) == 0
        log = env.output()
    assert checked.returncode == 2
    assert_clean(checked.stdout + checked.stderr)
    refused = [line for line in checked.stderr.splitlines() if "audio: " in line]
    for name, path in bad.items():
        said = [line for line in refused if f"audio: {path}: " in line]
        if name == "cut-flac":
            assert said == [], said
        else:
            assert len(said) == 1, (name, checked.stderr)
    for path in good.values():
        assert str(path) not in checked.stderr
    report = env.report("bad")
    assert report["counts"] == {"done": len(good), "failed": len(bad)}, report["failures"]
    reasons = {f["source"]: f["reason"] for f in report["failures"]}
    assert set(reasons) == {str(path) for path in bad.values()}
    for path in bad.values():
        reason = reasons[str(path)]
        assert reason.startswith(f"{path}: "), reason
        assert "\n" not in reason
    assert "has no audio stream" in reasons[str(bad["video"])]
    assert "has no audio stream" in reasons[str(bad["notes"])]
    assert "truncated" in reasons[str(bad["cut-mulaw"])]
    assert "truncated" in reasons[str(bad["liar-wav"])]
    assert "decoding failed" in reasons[str(bad["cut-flac"])]
    for name in good:
        doc = json.loads((env.results / "bad" / f"{name}.json").read_text("utf-8"))
        assert any(channel["words"] for channel in doc["channels"]), name
    assert_clean(log)
