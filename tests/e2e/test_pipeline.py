"""The daemon end to end: the real CLI as a subprocess, moto's S3 server, the emulator."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import S3Server
from tests.support.daemon import AUDIO, DEMO_FILES, emulated_daemon
from tests.support.emulator import TEST_API_KEY

pytestmark = pytest.mark.e2e

SRT_TIME = re.compile(r"^\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}$")
VTT_TIME = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} --> \d\d:\d\d:\d\d\.\d{3}$")


def check_srt(text: str) -> int:
    """Well-formed SRT: numbered cues, a time line each; returns the cue count."""
    blocks = [b for b in text.strip().split("\n\n") if b.strip()]
    for number, block in enumerate(blocks, start=1):
        lines = block.splitlines()
        assert lines[0] == str(number), block
        assert SRT_TIME.match(lines[1]), block
        assert lines[2:], block
    return len(blocks)


def check_vtt(text: str) -> int:
    """Well-formed WebVTT: the header, then cues with a time line; returns the cue count."""
    assert text.startswith("WEBVTT")
    cues = [b for b in text.strip().split("\n\n")[1:] if b.strip()]
    for cue in cues:
        assert any(VTT_TIME.match(line) for line in cue.splitlines()), cue
    return len(cues)


def check_speakers(folder: Path, stem: str, speakers: tuple[str, ...]) -> None:
    """``stem``'s SRT and WebVTT files are well formed and give every one of ``speakers``
    a cue of theirs (``\nNAME: `` in the SRT, ``<v NAME>`` in the WebVTT)."""
    srt = (folder / f"{stem}.srt").read_text("utf-8")
    assert check_srt(srt) > 0
    vtt = (folder / f"{stem}.vtt").read_text("utf-8")
    assert check_vtt(vtt) > 0
    for speaker in speakers:
        assert f"\n{speaker}: " in srt
        assert f"<v {speaker}>" in vtt


def s3_keys(s3: S3Server, bucket: str) -> list[str]:
    """Every object in the bucket."""
    answer: dict[str, Any] = s3.client().list_objects_v2(Bucket=bucket)  # type: ignore[attr-defined]
    return [item["Key"] for item in answer.get("Contents", [])]


async def test_demo_manifest_end_to_end(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulated_daemon(tmp_path, s3_server, s3_bucket) as (emu, env):
        audio = env.copy_audio()
        jobs: list[dict[str, Any]] = [{"audio": name} for name in DEMO_FILES]
        jobs[0]["output"] = "greetings/hello"
        env.put_manifest("demo", jobs, base_dir=audio, defaults={"literature_text": True})
        assert await env.run_until_idle() == 0
        stats = emu.stats()

    folder = env.results / "demo"
    expected = ["greetings/hello", *(Path(n).stem for n in DEMO_FILES[1:])]
    for rel in expected:
        document = json.loads((folder / f"{rel}.json").read_text("utf-8"))
        stereo = "stereo" in document["source"]
        assert document["audio"]["channels"] == (2 if stereo else 1)
        assert [c["channel"] for c in document["channels"]] == ([1, 2] if stereo else [1])
        for channel in document["channels"]:
            assert channel["text"]
            assert channel["words"]
            starts = [w["start"] for w in channel["words"]]
            assert starts == sorted(starts)
            assert all(w["end"] >= w["start"] for w in channel["words"])
        assert document["raw"]["chunks"]
        assert document["settings"]["literature_text"] is True
        texts = ["ch1.txt", "ch2.txt"] if stereo else ["txt"]
        for suffix in texts:
            assert (folder / f"{rel}.{suffix}").read_text("utf-8").strip()
        assert check_srt((folder / f"{rel}.srt").read_text("utf-8")) > 0
        assert check_vtt((folder / f"{rel}.vtt").read_text("utf-8")) > 0

    report = json.loads((folder / "report.json").read_text("utf-8"))
    assert report["counts"] == {"done": 6}
    assert report["failures"] == []
    assert report["jobs"] == 6
    assert report["audio_hours"] > 0
    # Billing: 1 s of two-channel audio, at least 15 s per pair of channels.
    assert report["billable_units"] == pytest.approx(6 * 15.0)
    assert (folder / "report.txt").read_text("utf-8").startswith("manifest demo: 6 jobs")
    assert (env.root / "processed" / "demo.yaml").exists()
    assert not list(env.inbox.glob("*.yaml"))

    # Every request under the quotas, each audio submitted once, about one check per job.
    assert stats["summary"]["operations"] == 6
    assert stats["summary"]["succeeded"] == 6
    assert stats["throttled_total"] == 0
    assert stats["summary"]["status_checks"] <= 6 * 3
    # Objects are deleted once the transcripts are on disk.
    assert s3_keys(s3_server, s3_bucket) == []

    transitions = env.events("job.state")
    assert {e["to"] for e in transitions} >= {"uploading", "uploaded", "submitting", "running"}
    assert all(e["manifest"] == "demo" and "job_id" in e and "took_s" in e for e in transitions)
    assert any(e.get("operation_id") for e in transitions if e["to"] == "done")
    (finished,) = env.events("manifest.finished")
    assert finished["counts"] == {"done": 6}

    # No secret in any log line or output file.
    written = env.output() + "".join(
        p.read_text("utf-8") for p in env.results.rglob("*") if p.is_file()
    )
    for secret in (TEST_API_KEY, s3_server.secret_key):
        assert secret not in written


async def test_submit_to_a_stopped_daemon(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulated_daemon(tmp_path, s3_server, s3_bucket) as (_emu, env):
        audio = env.copy_audio(("voicemail-mono.wav",))
        elsewhere = tmp_path / "mine"
        elsewhere.mkdir()
        manifest = elsewhere / "mine.yaml"
        # Relative to the manifest's own directory: still right once it is in the inbox.
        manifest.write_text(
            f"name: mine\nbase_dir: ../{audio.name}\njobs:\n  - voicemail-mono.wav\n", "utf-8"
        )
        broken = elsewhere / "broken.yaml"
        broken.write_text("name: broken\njobs:\n  - audio: nowhere.ogg\n", "utf-8")

        refused = await env.cli("submit", str(broken), str(manifest))
        assert refused.returncode == 2
        assert "broken.yaml:3: jobs[0].audio:" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert not env.inbox.exists() or not list(env.inbox.iterdir())

        accepted = await env.cli("submit", str(manifest))
        assert accepted.returncode == 0, accepted.stderr
        assert [p.name for p in env.inbox.iterdir()] == ["mine.yaml"]
        assert await env.run_until_idle() == 0
    assert (env.results / "mine" / "voicemail-mono.txt").exists()
    assert manifest.exists()  # the user's file is left where it was


async def test_bad_input_is_reported_and_the_rest_is_done(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulated_daemon(tmp_path, s3_server, s3_bucket) as (_emu, env):
        audio = env.copy_audio()
        # An MP3 named .ogg, an empty file, and a file that is gone by the time it is read.
        (audio / "liar.ogg").write_bytes((audio / "podcast-mono.mp3").read_bytes())
        (audio / "empty.wav").write_bytes(b"")
        (audio / "gone.ogg").write_bytes((audio / "greeting-mono.ogg").read_bytes())
        env.put_manifest(
            "mixed",
            [
                {"audio": "greeting-mono.ogg"},
                {"audio": "liar.ogg"},
                {"audio": "empty.wav"},
                {"audio": "gone.ogg", "language": "en-US"},
            ],
            base_dir=audio,
        )
        (audio / "gone.ogg").unlink()
        # A manifest with problems is moved aside; the daemon carries on.
        env.inbox.joinpath("broken.yaml").write_text(
            "name: broken\njobs:\n  - audio: x.ogg\n    langauge: en-US\n", "utf-8"
        )
        assert await env.run_until_idle() == 0
        status = await env.cli("status", "--json")

    failed_dir = env.root / "failed"
    assert (failed_dir / "broken.yaml").exists()
    problems = (failed_dir / "broken.yaml.problems.txt").read_text("utf-8")
    assert "langauge" in problems
    assert "language" in problems  # the suggestion
    assert "Traceback" not in env.output()
    rejected = env.events("manifest.rejected")
    assert len(rejected) == 1

    report = json.loads((env.results / "mixed" / "report.json").read_text("utf-8"))
    assert report["counts"] == {"done": 1, "failed": 3}
    reasons = {Path(f["source"]).name: f["reason"] for f in report["failures"]}
    assert "liar.ogg" in reasons["liar.ogg"]
    assert "mp3" in reasons["liar.ogg"].lower()
    assert "empty" in reasons["empty.wav"].lower()
    assert "gone.ogg" in reasons["gone.ogg"]
    assert (failed_dir / "mixed.yaml").exists()
    assert (env.results / "mixed" / "greeting-mono.txt").exists()

    assert status.returncode == 0
    snap = json.loads(status.stdout)
    (mixed,) = [m for m in snap["manifests"] if m["name"] == "mixed"]
    assert mixed["counts"] == {"done": 1, "failed": 3}
    assert {Path(f["source"]).name for f in mixed["failures"]} == set(reasons)


async def test_retry_and_cancel(tmp_path: Path, s3_server: S3Server, s3_bucket: str) -> None:
    async with emulated_daemon(tmp_path, s3_server, s3_bucket) as (emu, env):
        audio = env.copy_audio(("greeting-mono.ogg",))
        env.put_manifest(
            "again", [{"audio": "greeting-mono.ogg"}, {"audio": "late.ogg"}], base_dir=audio
        )
        assert await env.run_until_idle() == 0
        report = json.loads((env.results / "again" / "report.json").read_text("utf-8"))
        assert report["counts"] == {"done": 1, "failed": 1}

        # The missing file arrives; `retry` queues the failed job again.
        (audio / "late.ogg").write_bytes((audio / "greeting-mono.ogg").read_bytes() + b"")
        retry = await env.cli("retry", "again")
        assert retry.returncode == 0, retry.stderr
        assert "1 job(s) queued again" in retry.stdout
        assert await env.run_until_idle() == 0
        report = json.loads((env.results / "again" / "report.json").read_text("utf-8"))
        assert report["counts"] == {"done": 2}
        assert (env.results / "again" / "late.json").exists()
        # Same content and settings as greeting-mono: recognised once, the result reused.
        assert emu.stats()["summary"]["operations"] == 1
        # ... so the report bills it once and counts the reuse as saved.
        assert report["billable_units"] > 0
        assert report["saved_units"] == report["billable_units"]
        finished = env.events("manifest.finished")[-1]
        assert finished["saved_units"] == report["saved_units"]

        unknown = await env.cli("retry", "nope")
        assert unknown.returncode == 2
        assert "no manifest named 'nope'" in unknown.stderr
        assert "Traceback" not in unknown.stderr

        env.put_manifest(
            "stopme", [{"audio": "greeting-mono.ogg", "language": "kk-KZ"}], base_dir=audio
        )
        cancel = await env.cli("cancel", "stopme")
        # Not taken from the inbox yet: nothing known by that name.
        assert cancel.returncode == 2


async def test_same_audio_in_two_manifests_is_recognised_once(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulated_daemon(tmp_path, s3_server, s3_bucket) as (emu, env):
        audio = env.copy_audio(("call-stereo.ogg",))
        env.put_manifest("first", [{"audio": "call-stereo.ogg"}], base_dir=audio)
        env.put_manifest(
            "second",
            [
                {"audio": "call-stereo.ogg", "output": "same"},
                {"audio": "call-stereo.ogg", "output": "other-settings", "raw_results": True},
            ],
            base_dir=audio,
        )
        assert await env.run_until_idle() == 0
        stats = emu.stats()
    # Two settings, so two recognitions; the third job reuses the first's result.
    assert stats["summary"]["operations"] == 2
    assert len(env.events("upload.done")) == 1
    first = json.loads((env.results / "first" / "call-stereo.json").read_text("utf-8"))
    same = json.loads((env.results / "second" / "same.json").read_text("utf-8"))
    assert first["channels"] == same["channels"]
    assert (env.results / "second" / "other-settings.ch2.txt").exists()


async def test_objects_already_in_storage_are_not_uploaded_or_deleted(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    client = s3_server.client()
    client.put_object(  # type: ignore[attr-defined]
        Bucket=s3_bucket,
        Key="archive/2024/call.ogg",
        Body=(AUDIO / "call-stereo.ogg").read_bytes(),
    )
    async with emulated_daemon(tmp_path, s3_server, s3_bucket) as (emu, env):
        env.put_manifest(
            "remote",
            [
                {"audio": f"s3://{s3_bucket}/archive/2024/call.ogg"},
                {"audio": f"s3://{s3_bucket}/archive/missing.ogg"},
            ],
        )
        assert await env.run_until_idle() == 0
        stats = emu.stats()
    report = json.loads((env.results / "remote" / "report.json").read_text("utf-8"))
    assert report["counts"] == {"done": 1, "failed": 1}
    (failure,) = report["failures"]
    assert "recognition failed" in failure["reason"]
    document = json.loads((env.results / "remote" / "archive/2024/call.json").read_text("utf-8"))
    assert [c["channel"] for c in document["channels"]] == [1, 2]
    assert not env.events("upload.done")
    assert stats["summary"]["operations"] == 2
    # The user's own objects stay where they were.
    assert "archive/2024/call.ogg" in s3_keys(s3_server, s3_bucket)


async def test_a_finished_manifest_dropped_again_is_filed_at_once_and_not_run_again(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulated_daemon(tmp_path, s3_server, s3_bucket) as (emu, env):
        audio = env.copy_audio(("greeting-mono.ogg",))
        first = env.put_manifest("calls", [{"audio": "greeting-mono.ogg"}], base_dir=audio)
        same = first.read_bytes()
        assert await env.run_until_idle() == 0
        submitted = emu.stats()["summary"]["operations"]
        report = (env.results / "calls" / "report.json").read_bytes()

        (env.inbox / "calls.yaml").write_bytes(same)  # the very same file, once more
        assert await env.run_until_idle() == 0
        assert emu.stats()["summary"]["operations"] == submitted  # nothing recognised twice
    processed = env.root / "processed"
    assert sorted(p.name for p in processed.iterdir()) == ["calls.1.yaml", "calls.yaml"]
    assert (processed / "calls.1.yaml").read_bytes() == same
    assert not [p for p in (env.inbox / ".active").iterdir()]  # nothing left behind
    assert (env.results / "calls" / "report.json").read_bytes() == report
    (again,) = env.events("manifest.already_finished")
    assert again["manifest"] == "calls"
    assert again["report"] == str(env.results / "calls" / "report.json")
    assert again["manifest_file"] == str(processed / "calls.1.yaml")
