"""What comes out of a batch, through the real daemon (the CLI as a subprocess, the emulator,
moto's S3 server): channel names, the formats chosen, the conversation transcript, and
results in object storage after the local files with the report last."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import S3Server
from tests.e2e.test_pipeline import check_speakers, s3_keys
from tests.support.daemon import AUDIO, emulated_daemon
from tests.support.waiting import poll_until

pytestmark = pytest.mark.e2e

TURN = re.compile(r"^\[(\d\d):(\d\d):(\d\d)\] ([^:]+): \S.*$")


def turns(text: str) -> list[tuple[int, str]]:
    """(second, who) of each line of a conversation file, every line checked."""
    found = []
    for line in text.splitlines():
        match = TURN.match(line)
        assert match, line
        h, m, s, who = match.groups()
        found.append((int(h) * 3600 + int(m) * 60 + int(s), who))
    return found


async def test_named_channels_chosen_formats_and_the_conversation(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    # v3's status quota is per second of real time, counted by the emulator too.
    async with emulated_daemon(
        tmp_path, s3_server, s3_bucket, emulator_options={"v3_status_window_s": 1.0}
    ) as (emu, env):
        audio = env.copy_audio(("call-stereo.ogg", "podcast-mono.mp3", "interview-stereo.wav"))
        env.put_manifest(
            "calls",
            [
                {"audio": "call-stereo.ogg", "output": "named"},
                # The same audio, written otherwise: one recognition serves both.
                {
                    "audio": "call-stereo.ogg",
                    "output": "plain",
                    "channel_names": None,
                    "outputs": ["json", "txt", "srt", "vtt"],
                },
                {
                    "audio": "podcast-mono.mp3",
                    "api": "v3",
                    "speaker_labeling": True,
                    "language": "en-US",
                    "channel_names": None,
                    "outputs": ["conversation", "vtt"],
                },
                # One name for two channels: the daemon's own check, before any request.
                {"audio": "interview-stereo.wav", "channel_names": ["host"]},
            ],
            base_dir=audio,
            defaults={
                "channel_names": ["agent", "customer"],
                "outputs": ["txt", "srt", "vtt", "conversation"],
            },
        )
        assert await env.run_until_idle() == 0
        stats = emu.stats()

    report = env.report("calls")
    assert report["counts"] == {"done": 3, "failed": 1}
    (failure,) = report["failures"]
    assert failure["output"] == "interview-stereo"
    assert "channel_names gives 1 name but the audio has 2 channels" in failure["reason"]
    operations = list(stats["operations"].values())
    assert sorted(op["api"] for op in operations) == ["v2", "v3"]

    folder = env.results / "calls"
    assert sorted(p.name for p in folder.glob("named.*")) == [
        "named.agent.txt",
        "named.conversation.txt",
        "named.customer.txt",
        "named.srt",
        "named.vtt",
    ]
    assert (folder / "named.agent.txt").read_text("utf-8").strip()
    check_speakers(folder, "named", ("agent", "customer"))
    said = turns((folder / "named.conversation.txt").read_text("utf-8"))
    assert {who for _t, who in said} == {"agent", "customer"}
    assert [t for t, _w in said] == sorted(t for t, _w in said)
    assert all(a != b for (_x, a), (_y, b) in pairwise(said))  # one line per turn

    assert sorted(p.name for p in folder.glob("plain.*")) == [
        "plain.ch1.txt",
        "plain.ch2.txt",
        "plain.json",
        "plain.srt",
        "plain.vtt",
    ]
    document = json.loads((folder / "plain.json").read_text("utf-8"))
    assert [c["channel"] for c in document["channels"]] == [1, 2]
    assert not any("name" in c for c in document["channels"])

    assert sorted(p.name for p in folder.glob("podcast-mono.*")) == [
        "podcast-mono.conversation.txt",
        "podcast-mono.vtt",
    ]
    speakers = turns((folder / "podcast-mono.conversation.txt").read_text("utf-8"))
    assert {who for _t, who in speakers} == {"Speaker 1", "Speaker 2"}
    assert "<v Speaker 1>" in (folder / "podcast-mono.vtt").read_text("utf-8")
    assert not list(folder.glob("interview-stereo.*"))


def test_validate_names_the_field_of_each_output_choice(tmp_path: Path) -> None:
    for name in ("call-stereo.ogg", "greeting-mono.ogg"):
        (tmp_path / name).write_bytes((AUDIO / name).read_bytes())
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "name: m\njobs:\n"
        "  - audio: call-stereo.ogg\n"  # 3
        "    channel_names: [agent]\n"
        "  - audio: greeting-mono.ogg\n"
        "    outputs: [json, srtt]\n",  # 6
        "utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator", "validate", str(manifest)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    errors = result.stderr.splitlines()
    assert errors[0].startswith(f"error: {manifest}:3: channel_names: ")
    assert errors[0].endswith(
        "channel_names gives 1 name but the audio has 2 channels: give a name for each channel"
    )
    assert errors[1] == (
        f"error: {manifest}:6: jobs[1].outputs[1]: unknown value 'srtt'; allowed: json, txt, "
        "srt, vtt, conversation, dataset; did you mean 'srt'?"
    )


async def list_until_report(s3: S3Server, bucket: str, prefix: str) -> set[str]:
    """List the bucket under ``prefix`` until a manifest's report.json shows; the keys of
    that listing (what a downstream system polling the bucket would see then)."""
    client: Any = s3.client()

    async def keys() -> set[str]:
        listing = await asyncio.to_thread(client.list_objects_v2, Bucket=bucket, Prefix=prefix)
        return {item["Key"] for item in listing.get("Contents", [])}

    return await poll_until(
        keys, lambda found: f"{prefix}report.json" in found, limit_s=60, step_s=0.05
    )


async def test_results_on_disk_then_in_object_storage_with_the_report_last(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulated_daemon(
        tmp_path, s3_server, s3_bucket, outputs={"s3_prefix": "transcripts", "local": True}
    ) as (_emu, env):
        names = ("greeting-mono.ogg", "call-stereo.ogg", "voicemail-mono.wav", "meeting-stereo.mp3")
        audio = env.copy_audio(names)
        env.put_manifest(
            "batch",
            [{"audio": name} for name in names],
            base_dir=audio,
            defaults={"outputs": ["json", "txt", "conversation"]},
        )
        watcher = asyncio.create_task(list_until_report(s3_server, s3_bucket, "transcripts/batch/"))
        try:
            assert await env.run_until_idle() == 0
            seen_with_report = await asyncio.wait_for(watcher, 60)
        finally:
            watcher.cancel()

    folder = env.results / "batch"
    local = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    expected = {"report.json", "report.txt"}
    for name in names:
        stem = Path(name).stem
        texts = ["ch1.txt", "ch2.txt"] if "stereo" in name else ["txt"]
        expected |= {f"{stem}.{key}" for key in ("json", "conversation.txt", *texts)}
    assert set(local) == expected
    # The same set in storage, byte for byte, the report included.
    client: Any = s3_server.client()
    for rel in local:
        answer = client.get_object(Bucket=s3_bucket, Key=f"transcripts/batch/{rel}")
        assert answer["Body"].read() == (folder / rel).read_bytes(), rel
    # Whenever report.json could be seen in the bucket, every job's set was there already.
    assert {f"transcripts/batch/{rel}" for rel in expected} <= seen_with_report
    (finished,) = env.events("manifest.finished")
    assert finished["report"] == str(folder / "report.json")
    assert finished["report_object"] == f"s3://{s3_bucket}/transcripts/batch/report.json"
    for written in env.events("job.written"):
        files = written["files"]
        assert any(f.startswith(str(folder)) for f in files), files
        assert any(f.startswith(f"s3://{s3_bucket}/transcripts/batch/") for f in files), files
    # Nothing of the uploaded audio is left: only the results.
    assert all(key.startswith("transcripts/batch/") for key in s3_keys(s3_server, s3_bucket))


async def test_a_folder_mixing_mono_and_stereo_takes_the_channel_names_each_file_has(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulated_daemon(tmp_path, s3_server, s3_bucket) as (_emu, env):
        folder = env.copy_audio(("call-stereo.ogg", "greeting-mono.ogg"), "calls")
        manifest = tmp_path / "calls.yaml"
        manifest.write_text(
            f"name: calls\nbase_dir: {folder}\n"
            "defaults:\n  channel_names: [agent, customer]\n  outputs: [json, txt]\n"
            "jobs:\n  - ./\n",
            "utf-8",
        )
        checked = await env.cli("validate", str(manifest))
        assert checked.returncode == 0, checked.stderr
        submitted = await env.cli("submit", str(manifest))
        assert submitted.returncode == 0, submitted.stderr
        assert await env.run_until_idle() == 0
        assert env.report("calls")["counts"] == {"done": 2}
        results = env.results / "calls"
        assert (results / "call-stereo.agent.txt").exists()
        assert (results / "call-stereo.customer.txt").exists()
        # The mono file is channel 1: the agent, with its text in <output>.txt.
        assert (results / "greeting-mono.txt").exists()
        mono = json.loads((results / "greeting-mono.json").read_text("utf-8"))
        assert [channel.get("name") for channel in mono["channels"]] == ["agent"]
