"""Bad audio through the real CLI (the emulator, moto's S3 server): `validate` refuses each
bad file with one line naming it, and the daemon, given the same manifest straight in its
inbox, fails each bad job with a one-line reason naming the file while every good one is
recognised and the daemon goes on to exit 0. A media worker that hangs (stopped) is killed
at its time bound and one that dies mid-conversion (its CPU time limited) fails only its job,
and the next file is converted on a fresh worker. Nothing quotes a file's bytes, nothing
prints a traceback."""

from __future__ import annotations

import json
import math
import os
import random
import re
import resource
import signal
import struct
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import S3Server
from tests.support.daemon import DaemonEnv, emulated_daemon, eventually
from tests.support.formats import long_wav, video_only, write

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
        "cut-flac": cut(good["flac"], "cut-flac.flac"),
        "cut-mulaw": cut(good["mulaw"], "cut-mulaw.wav"),
        "cut-aiff": cut(good["aiff"], "cut-aiff.aiff"),
        "liar-wav": liar_wav(good["alaw"]),
        "liar-aiff": liar_aiff(good["aiff"]),
        "video": video_only(folder),
        "notes": notes,
    }
    # An M4A damaged in its middle, whole at both ends: validate reads headers and the
    # last packets, it does not decode whole files, so only the daemon's conversion finds
    # the damage.
    m4a = write(folder, "m4a", 3.0)
    data = bytearray(m4a.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 3000] = bytes(3000)
    damaged = folder / "damaged.m4a"
    damaged.write_bytes(bytes(data))
    m4a.unlink()
    return good, {**bad, "damaged": damaged}


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
        if name == "damaged":
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
    assert "is truncated: its audio ends at" in reasons[str(bad["cut-flac"])]
    assert "decoding failed at" in reasons[str(bad["damaged"])]
    for name in good:
        doc = json.loads((env.results / "bad" / f"{name}.json").read_text("utf-8"))
        assert any(channel["words"] for channel in doc["channels"]), name
    assert_clean(log)


def media_workers(daemon_pid: int) -> set[int]:
    """The daemon's media worker processes (spawned: their command line names spawn_main;
    multiprocessing's resource tracker, if any, is not one)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == daemon_pid and b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
            found.add(int(entry.name))
    return found


def running(pid: int) -> bool:
    """Whether the process exists and has not ended (a zombie awaiting its reaping has)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def gone(pid: int) -> bool:
    """Whether the process has ended (for ``eventually``)."""
    return not running(pid)


async def finished(env: DaemonEnv, name: str) -> dict[str, Any]:
    """Manifest ``name``'s report, once the running daemon has written it."""
    report = env.results / name / "report.json"

    async def written() -> bool:
        return report.exists()

    await eventually(written, limit_s=120)
    return env.report(name)


async def test_a_hung_worker_is_killed_at_its_bound_and_replaced_while_the_daemon_goes_on(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    # A worker that never answers, made for real: the one media worker stopped (SIGSTOP)
    # while idle between two jobs. Whatever FFmpeg would have done, the daemon sees exactly
    # a decoder that hangs: a call with no answer.
    async with emulated_daemon(tmp_path, s3_server, s3_bucket, concurrency={"conversions": 1}) as (
        _emu,
        env,
    ):
        folder = tmp_path / "audio"
        folder.mkdir()
        made = {name: write(folder, name) for name in ("mulaw", "alaw", "flac")}
        native = env.copy_audio(("voicemail-mono.wav", "greeting-mono.ogg"))
        env.put_manifest("first", [{"audio": str(made["mulaw"]), "output": "call"}])
        daemon = await env.start()
        first = await finished(env, "first")
        (worker,) = media_workers(daemon.pid)
        os.kill(worker, signal.SIGSTOP)
        env.put_manifest(
            "second",
            [
                {"audio": str(made["alaw"]), "output": "hung"},
                {"audio": str(native / "voicemail-mono.wav"), "output": "voicemail"},
                {"audio": str(native / "greeting-mono.ogg"), "output": "greeting"},
            ],
        )
        second = await finished(env, "second")
        # Killed at its bound (before the job failed), and reaped in a thread of the pool's:
        # on a loaded machine the reaping may come a moment after the report.
        await eventually(lambda: gone(worker), limit_s=30.0)
        env.put_manifest("third", [{"audio": str(made["flac"]), "output": "after"}])
        third = await finished(env, "third")
        replaced = media_workers(daemon.pid)
        assert await env.stop(daemon) == 0
    assert first["counts"] == {"done": 1}
    assert second["counts"] == {"done": 2, "failed": 1}, second["failures"]
    (failure,) = second["failures"]
    reason = failure["reason"]
    assert reason.startswith(f"{made['alaw']}: conversion stopped after "), reason
    assert reason.endswith(" s (its time bound)")
    assert third["counts"] == {"done": 1}, third["failures"]
    assert len(replaced) == 1
    assert worker not in replaced
    assert_clean(env.output())


def cpu_seconds(pid: int) -> float:
    """The CPU time the process has used so far (user and system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def test_a_worker_that_dies_mid_conversion_fails_its_job_and_is_replaced(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    # A worker that dies in the middle of FFmpeg's work, made for real: the idle worker's
    # CPU time limited (RLIMIT_CPU) to less than a second beyond what it has used, then
    # given minutes of 44.1 kHz audio to convert, which takes seconds of CPU: the kernel
    # ends it with SIGXCPU as a crashing decoder's segfault would, whatever the machine.
    async with emulated_daemon(tmp_path, s3_server, s3_bucket, concurrency={"conversions": 1}) as (
        _emu,
        env,
    ):
        folder = tmp_path / "audio"
        folder.mkdir()
        made = {name: write(folder, name) for name in ("mulaw", "flac")}
        long = long_wav(folder / "long.wav", 8 * 60, rate=44100, channels=2)
        native = env.copy_audio(("voicemail-mono.wav",))
        env.put_manifest("first", [{"audio": str(made["mulaw"]), "output": "call"}])
        daemon = await env.start()
        first = await finished(env, "first")
        (worker,) = media_workers(daemon.pid)
        limit = math.ceil(cpu_seconds(worker))
        resource.prlimit(worker, resource.RLIMIT_CPU, (limit, limit + 1))
        env.put_manifest(
            "second",
            [
                {"audio": str(long), "output": "crashed"},
                {"audio": str(native / "voicemail-mono.wav"), "output": "voicemail"},
            ],
        )
        second = await finished(env, "second")
        assert not running(worker)
        env.put_manifest("third", [{"audio": str(made["flac"]), "output": "after"}])
        third = await finished(env, "third")
        replaced = media_workers(daemon.pid)
        assert await env.stop(daemon) == 0
    assert first["counts"] == {"done": 1}
    assert second["counts"] == {"done": 1, "failed": 1}, second["failures"]
    (failure,) = second["failures"]
    assert failure["source"] == str(long)
    assert re.fullmatch(
        rf"{re.escape(str(long))}: the conversion's worker process died \(exit code -\d+\)",
        failure["reason"],
    ), failure["reason"]
    assert third["counts"] == {"done": 1}, third["failures"]
    assert len(replaced) == 1
    assert worker not in replaced
    assert_clean(env.output())
