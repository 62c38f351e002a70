"""Folders that grow, through the real daemon and the real CLI: the same folder manifest
submitted again takes only the new files and says how many; ``--again`` takes them all."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import S3Server
from tests.support.daemon import AUDIO, DaemonEnv, emulated_daemon, eventually

pytestmark = pytest.mark.e2e

LIMIT_S = 120.0


def folder_manifest(env: DaemonEnv, **top: object) -> Path:
    """``day1.yaml`` beside the config, naming the folder ``calls/``."""
    path = env.root / "day1.yaml"
    document = {"name": "day1", **top, "jobs": [{"audio": "calls/"}]}
    path.write_text(yaml.safe_dump(document, sort_keys=False), "utf-8")
    return path


async def submit(env: DaemonEnv, manifest: Path, *extra: str) -> list[str]:
    result = await env.cli(
        "submit", "--wait", "--interval", "0.2", *extra, str(manifest), limit_s=LIMIT_S
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.splitlines()


async def test_a_folder_submitted_again_takes_the_new_files_and_again_takes_all(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulated_daemon(tmp_path, s3_server, s3_bucket) as (_emu, env):
        env.copy_audio(("greeting-mono.ogg", "voicemail-mono.wav"), folder="calls")
        manifest = folder_manifest(env)
        daemon = await env.start()
        try:
            first = await submit(env, manifest)
            shutil.copy(AUDIO / "podcast-mono.mp3", env.root / "calls" / "podcast-mono.mp3")
            second = await submit(env, manifest)
            third = await submit(env, manifest, "--again")
        finally:
            await env.stop(daemon)
        accepted = env.events("manifest.accepted")
        # The runs told apart: in status, and by retry (NAME alone: the newest, said).
        status = await env.cli("status")
        assert [line.split()[0] for line in status.stdout.splitlines() if "day1" in line] == [
            "day1#1",
            "day1#2",
            "day1#3",
        ]
        newest = await env.cli("retry", "day1")
        assert newest.stdout == "day1: 0 job(s) queued again (the newest of 3 runs: day1#3)\n"
        one = await env.cli("retry", "day1#1")
        assert one.stdout == "day1#1: 0 job(s) queued again\n"
        none = await env.cli("retry", "day1#4")
        assert none.returncode == 2
        assert "manifest 'day1' has 3 run(s), not 4" in none.stderr

    assert not [line for line in first if "new run" in line or "run 1" in line]
    assert f"{manifest}: a new run of day1 taking 1 new or changed files; 2 taken by " in (
        "\n".join(second)
    )
    assert "run 2 of day1: 1 files taken" in second
    assert f"{manifest}: a new run of day1 taking all 3 files again" in third
    assert "run 3 of day1: 3 files taken" in third
    said = [(e["jobs"], e["taken_before"], e["again"]) for e in accepted]
    assert said == [(2, 0, False), (1, 2, False), (3, 0, True)]
    finished = env.events("manifest.finished")
    assert [e["counts"] for e in finished] == [{"done": 2}, {"done": 1}, {"done": 3}]
    # --again: content recognised before with the same settings is not sent again.
    assert [e["submissions"] for e in finished] == [2, 1, 0]


def taken(env: DaemonEnv) -> list[str]:
    """The file names of the jobs taken so far, in order."""
    return [Path(e["source"]).name for e in env.events("job.state") if e["from"] == "queued"]


async def is_taken(env: DaemonEnv, name: str) -> bool:
    """Whether a job of the file ``name`` has left the queue."""
    return name in taken(env)


async def grow_slowly(path: Path, data: bytes, stop: asyncio.Event) -> None:
    """Write ``data`` to ``path`` a little at a time, as a recorder does, until ``stop``;
    then the rest at once."""
    written = 0
    with path.open("wb") as handle:
        while not stop.is_set() and written < len(data) - 1:
            handle.write(data[written : written + 64])
            handle.flush()
            written += 64
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.05)
        handle.write(data[written:])


async def test_a_standing_manifest_takes_new_files_once_settled_across_a_restart(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    # The settle time is longer than a busy machine pauses the slow writer below.
    watch = {"watch_settle_s": 2.0, "watch_rescan_s": 0.1}
    async with emulated_daemon(tmp_path, s3_server, s3_bucket, intake=watch) as (_emu, env):
        calls = env.copy_audio(("greeting-mono.ogg",), folder="calls")
        old = calls / "greeting-mono.ogg"
        os.utime(old, (old.stat().st_atime - 60, old.stat().st_mtime - 60))  # long settled
        submitted = await env.cli("submit", str(folder_manifest(env, watch=True)))
        assert submitted.returncode == 0, submitted.stderr
        daemon = await env.start()
        try:
            await env.wait_for_event("job.state", to="done", source=str(old), limit_s=LIMIT_S)
            status = await env.cli("status")
            assert re.search(r"^day1\s+standing\s", status.stdout, re.M), status.stdout

            # A recording still being written while another one appears and settles:
            # the second is taken, the first (growing all along) is not.
            done_writing = asyncio.Event()
            growing = asyncio.create_task(
                grow_slowly(
                    calls / "voicemail-mono.wav",
                    (AUDIO / "voicemail-mono.wav").read_bytes(),
                    done_writing,
                )
            )
            shutil.copy(AUDIO / "podcast-mono.mp3", calls / "podcast-mono.mp3")
            await eventually(lambda: is_taken(env, "podcast-mono.mp3"), LIMIT_S)
            assert "voicemail-mono.wav" not in taken(env)
            done_writing.set()
            await growing
            await env.wait_for_event(
                "job.state", to="done", source=str(calls / "voicemail-mono.wav"), limit_s=LIMIT_S
            )

            await env.stop(daemon)  # a restart in the middle: a file comes while it is down
            shutil.copy(AUDIO / "call-stereo.ogg", calls / "call-stereo.ogg")
            daemon = await env.start()
            await env.wait_for_event(
                "job.state", to="done", source=str(calls / "call-stereo.ogg"), limit_s=LIMIT_S
            )
            closed = await env.cli("close", "day1")
            assert closed.returncode == 0, closed.stderr
            await env.wait_for_event("manifest.finished", manifest="day1", limit_s=LIMIT_S)
            shutil.copy(AUDIO / "meeting-stereo.mp3", calls / "meeting-stereo.mp3")  # too late
            again = await env.cli("close", "day1")
        finally:
            await env.stop(daemon)
        report = env.report("day1")

    expected = ["call-stereo.ogg", "greeting-mono.ogg", "podcast-mono.mp3", "voicemail-mono.wav"]
    assert sorted(taken(env)) == expected  # each once, across the restart
    assert report["counts"] == {"done": 4}
    assert again.returncode == 1
    assert "no standing manifest of this name is open" in again.stderr
