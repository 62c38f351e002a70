"""Hostile and broken input against the real daemon: nothing wedges it, nothing leaks.

Each case is one the daemon once got wrong: a manifest the YAML reader refuses or a path
the filesystem refuses kept intake failing forever; a manifest could make the daemon read
any file and quote its first bytes; a run killed while writing left temporary files behind.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import S3Server
from tests.support.daemon import DaemonEnv, emulated_daemon
from tests.support.emulator import emulator
from tests.support.proxy import CuttingProxy

pytestmark = pytest.mark.e2e

# Bytes no message may ever show: the file's text, or its first bytes in hex.
SECRET = b"TOPSECRET-CONTENT-"
SECRET_HEX = ("54 4f 50 53", "544f5053")


def validate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", "validate", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def everything_written(env: DaemonEnv) -> str:
    """The daemon's log and every file it wrote (results, reports, problems files)."""
    texts = [env.output()]
    for folder in ("results", "failed", "processed"):
        for path in (env.root / folder).rglob("*"):
            if path.is_file():
                texts.append(path.read_text("utf-8", errors="replace"))
    return "\n".join(texts)


BROKEN_MANIFESTS: dict[str, bytes] = {
    # A control character: PyYAML refuses the text before parsing it.
    "control.yaml": b"name: a\x01b\njobs: [x.ogg]\n",
    # A path component longer than the filesystem allows.
    "long.yaml": b"name: long\njobs:\n  - audio: " + b"a" * 300 + b".ogg\n",
    # Not UTF-8.
    "latin1.yaml": b"name: caf\xe9\njobs: [x.ogg]\n",
    # Nesting deeper than the parser's recursion.
    "deep.yaml": b"name: deep\njobs: " + b"[" * 3000 + b"]" * 3000 + b"\n",
    # A tagged scalar the YAML constructor cannot build.
    "tagged.yaml": b"name: tagged\njobs:\n  - audio: x.ogg\n    priority: !!int nope\n",
}


async def test_broken_manifests_go_to_failed_and_the_rest_is_done(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulated_daemon(tmp_path, s3_server, s3_bucket) as (_emu, env):
        audio = env.copy_audio(("greeting-mono.ogg",))
        env.inbox.mkdir(parents=True)
        for name, data in BROKEN_MANIFESTS.items():
            (env.inbox / name).write_bytes(data)
        env.put_manifest("good", [{"audio": "greeting-mono.ogg"}], base_dir=audio)
        assert await env.run_until_idle(limit_s=60) == 0

    failed = env.root / "failed"
    for name in BROKEN_MANIFESTS:
        assert (failed / name).exists(), name
        problems = (failed / f"{name}.problems.txt").read_text("utf-8")
        assert problems.strip(), name
        assert f"inbox/{name}" in problems
    report = json.loads((env.results / "good" / "report.json").read_text("utf-8"))
    assert report["counts"] == {"done": 1}
    rejected = {Path(e["path"]).name for e in env.events("manifest.rejected")}
    assert rejected == set(BROKEN_MANIFESTS)
    assert not env.events("intake.error")
    assert "Traceback" not in env.output()
    assert not list(env.inbox.glob("*.yaml"))

    # `validate` says the same, one line per problem, for every one of them.
    for name in BROKEN_MANIFESTS:
        result = validate(str(failed / name))
        assert result.returncode == 2, (name, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert lines, name
        assert all(line.startswith("error: ") for line in lines[:-1]), result.stderr
        assert "Traceback" not in result.stderr


async def test_a_manifest_cannot_make_the_daemon_read_outside_the_input_roots(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    # The daemon's config is in daemon/: by default only that tree may hold audio.
    private = tmp_path / "private"
    private.mkdir()
    secret = private / "notes.raw"
    secret.write_bytes(SECRET * 500)  # an even size: it would pass for 16-bit raw PCM
    async with emulated_daemon(tmp_path / "daemon", s3_server, s3_bucket) as (_emu, env):
        audio = env.copy_audio(("greeting-mono.ogg",))
        (audio / "link.raw").symlink_to(secret)
        raw = {"encoding": "LINEAR16_PCM", "sample_rate": 16000}
        env.put_manifest(
            "sneaky",
            [
                {"audio": str(secret), **raw},
                {"audio": "link.raw", "output": "linked", **raw},
                {"audio": "/etc/passwd", "encoding": "MP3"},
                {"audio": "greeting-mono.ogg"},
            ],
            base_dir=audio,
        )
        env.put_manifest("good", [{"audio": "greeting-mono.ogg"}], base_dir=audio)
        assert await env.run_until_idle(limit_s=60) == 0

    failed = env.root / "failed"
    problems = (failed / "sneaky.yaml.problems.txt").read_text("utf-8")
    for path in (str(secret), "/etc/passwd"):
        assert path in problems
    assert problems.count("outside the input roots") == 3, problems
    assert json.loads((env.results / "good" / "report.json").read_text("utf-8"))["counts"] == {
        "done": 1
    }
    assert not (env.results / "sneaky").exists()
    written = everything_written(env)
    assert SECRET.decode() not in written
    assert "root:x" not in written
    for hex_form in SECRET_HEX:
        assert hex_form not in written
    keys = s3_server.client().list_objects_v2(Bucket=s3_bucket)  # type: ignore[attr-defined]
    assert keys.get("KeyCount", 0) == 0

    # `validate --config` refuses the same paths, naming them.
    result = validate("--config", str(env.config_path), str(failed / "sneaky.yaml"))
    assert result.returncode == 2
    assert result.stderr.count("outside the input roots") == 3, result.stderr
    assert SECRET.decode() not in result.stderr


def test_no_message_quotes_the_bytes_of_a_file(tmp_path: Path) -> None:
    # Without a config there are no roots to check (the user reads their own files), but
    # a file that is not audio is still never quoted.
    secret = tmp_path / "notes.raw"
    secret.write_bytes(SECRET * 500)
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        f"name: m\njobs:\n  - audio: {secret}\n    encoding: MP3\n"
        f"  - audio: {secret}\n    output: again\n  - audio: /etc/passwd\n",
        "utf-8",
    )
    result = validate(str(manifest))
    assert result.returncode == 2
    assert result.stderr.count("error: ") == 3, result.stderr
    for quoted in (SECRET.decode(), "root:x", "72 6f 6f 74", *SECRET_HEX):
        assert quoted not in result.stderr


async def test_leftovers_of_a_killed_run_are_swept_at_start(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulated_daemon(tmp_path, s3_server, s3_bucket) as (_emu, env):
        # What a run killed at the wrong moments leaves: half-written outputs, reports and
        # problems files, a submission's temporary file, a manifest moved to failed/
        # without its problems report.
        orphans = [
            env.results / "old" / "calls" / ".a.json.k2j4h5g6.tmp",
            env.results / "old" / ".report.json.abcdefgh.tmp",
            env.root / "failed" / ".x.yaml.problems.txt.q1w2e3r4.tmp",
            env.inbox / ".m.yaml.z9y8x7w6.tmp",
        ]
        for path in orphans:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("half", "utf-8")
        hour_ago = time.time() - 3600
        os.utime(env.inbox / ".m.yaml.z9y8x7w6.tmp", (hour_ago, hour_ago))
        # Not ours, or too young to be abandoned: left alone.
        keep = [
            env.inbox / ".n.yaml.a1b2c3d4.tmp",  # a submission may be writing it right now
            env.inbox / ".batch.yaml",  # an operator's copy, renamed when complete
            env.results / "old" / "notes.tmp",
        ]
        for path in keep:
            path.write_text("mine", "utf-8")
        (env.root / "failed" / "half.yaml").write_text("name: half\njobs: [x.ogg\n", "utf-8")
        assert await env.run_until_idle(limit_s=60) == 0

    for path in orphans:
        assert not path.exists(), path
    for path in keep:
        assert path.exists(), path
    removed = env.events("recovery.temp_files_removed")
    assert [e["count"] for e in removed] == [4]
    completed = env.events("recovery.rejections_completed")
    assert [e["count"] for e in completed] == [1]
    # The half-rejected manifest now has its problems report.
    problems = (env.root / "failed" / "half.yaml.problems.txt").read_text("utf-8")
    assert "invalid YAML" in problems


async def test_a_link_swapped_after_intake_is_caught_before_the_upload_reads_it(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    private = tmp_path / "private"
    private.mkdir()
    (private / "secret.raw").write_bytes(SECRET * 500)
    s3 = urlsplit(s3_server.endpoint_url)
    assert s3.hostname is not None
    assert s3.port is not None
    # Every S3 connection is cut: the upload is retried, and the file checked again each time.
    async with (
        emulator(s3_server) as emu,
        CuttingProxy(s3.hostname, s3.port, cut_rate=1.0, cut_within=0) as proxy,
    ):
        env = DaemonEnv.create(
            tmp_path / "daemon",
            dataclasses.replace(s3_server, endpoint_url=proxy.url),
            s3_bucket,
            emu.url,
            retry={"max_attempts": 50, "base_delay_s": 0.05, "max_delay_s": 0.2},
        )
        audio = env.copy_audio(("voicemail-mono.wav",))
        link = audio / "link.wav"
        link.symlink_to(audio / "voicemail-mono.wav")  # inside the root when taken
        env.put_manifest("swap", [{"audio": "link.wav"}], base_dir=audio)
        daemon = await env.start()
        await env.wait_for_event("job.retry", limit_s=60)
        link.unlink()
        link.symlink_to(private / "secret.raw")
        (failed,) = await env.wait_for_event("job.failed", limit_s=60)
        await env.stop(daemon)
    assert failed["reason_class"] == "audio"
    assert "outside the input roots" in failed["reason"]
    assert str(private / "secret.raw") in failed["reason"]
    assert SECRET.decode() not in everything_written(env)
