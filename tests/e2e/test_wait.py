"""``submit --wait`` and ``status --watch`` over the real daemon: the exit status says how
the batch ended, plain lines when stdout is not a terminal, a word when no daemon takes the
manifest in, and Ctrl-C stops the watching, not the batch."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import signal
from pathlib import Path

import pytest
import yaml

from tests.conftest import S3Server
from tests.support.daemon import DaemonEnv, emulated_daemon

pytestmark = pytest.mark.e2e

FILES = ("greeting-mono.ogg", "voicemail-mono.wav")
LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ calls: (\d+)/2 ended \((\d+)%\) \| (.+) \| "
    r"(-|\d+\.\d) jobs/min \| elapsed \S+( \S+)? \| (ETA .+|finished)$"
)
LIMIT_S = 120.0


def write_manifest(env: DaemonEnv, audio: Path) -> Path:
    path = env.root / "calls.yaml"
    document = {"name": "calls", "base_dir": str(audio), "jobs": list(FILES)}
    path.write_text(yaml.safe_dump(document), "utf-8")
    return path


async def lines_until(stream: asyncio.StreamReader, pattern: str, seen: list[str]) -> None:
    """Read lines into ``seen`` until one contains ``pattern``."""
    while True:
        raw = await asyncio.wait_for(stream.readline(), LIMIT_S)
        if not raw:
            raise AssertionError(f"no {pattern!r} in:\n" + "".join(seen))
        seen.append(raw.decode())
        if pattern in seen[-1]:
            return


async def test_submit_wait_exits_0_when_every_job_is_done(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulated_daemon(tmp_path, s3_server, s3_bucket) as (_emu, env):
        manifest = write_manifest(env, env.copy_audio(FILES))
        daemon = await env.start()
        watcher = await asyncio.create_subprocess_exec(
            *env.command("status", "--watch", "--interval", "0.2"),
            env=env.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            assert watcher.stdout is not None
            watched: list[str] = []
            # The watch is on before the manifest comes in.
            await lines_until(watcher.stdout, "no active manifests", watched)
            result = await env.cli("submit", "--wait", "--interval", "0.2", str(manifest))
            await lines_until(watcher.stdout, "| finished", watched)
        finally:
            try:
                with contextlib.suppress(ProcessLookupError):
                    watcher.send_signal(signal.SIGINT)
                watched_status = await asyncio.wait_for(watcher.wait(), LIMIT_S)
            finally:
                await env.stop(daemon)  # even when the watch failed: no daemon left behind
        assert watched_status == 130, "".join(watched)

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout.splitlines()
    assert out[0] == f"submitted {manifest} -> {env.inbox / 'calls.yaml'}"
    progress = [line for line in out if LINE.match(line)]
    assert progress, result.stdout
    assert progress[-1].endswith("| finished")
    assert "2/2 ended (100%) | 2 done |" in progress[-1]
    # No line repeats the one before it: only news is printed.
    assert all(a != b for a, b in itertools.pairwise(progress))
    # Then the report's summary: counts, audio, requests spent.
    summary = result.stdout[result.stdout.index("report: ") :]
    assert f"report: {env.results / 'calls' / 'report.json'}" in summary
    assert "manifest calls: 2 jobs (2 done)" in summary
    assert "requests: 2 submissions" in summary
    assert "audio: " in summary
    # status --watch drew the same lines for the same manifest, without a terminal.
    assert any(LINE.match(line.rstrip("\n")) for line in watched), watched


async def test_submit_wait_says_when_no_daemon_takes_it_and_exits_1_on_a_failure(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulated_daemon(tmp_path, s3_server, s3_bucket) as (_emu, env):
        audio = env.copy_audio(FILES)
        manifest = write_manifest(env, audio)
        waiter = await asyncio.create_subprocess_exec(
            *env.command(
                "submit", "--wait", "--interval", "0.2", "--intake-timeout", "0.5", str(manifest)
            ),
            env=env.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert waiter.stderr is not None
        assert waiter.stdout is not None
        said: list[str] = []
        await lines_until(waiter.stderr, "no daemon has taken it in", said)
        assert str(env.inbox) in said[-1]
        assert str(env.config_path) in said[-1]
        # The file goes missing before the daemon reads it: its job fails, not the batch.
        (audio / FILES[1]).unlink()
        daemon = await env.start()
        try:
            out, err = await asyncio.wait_for(waiter.communicate(), LIMIT_S)
        finally:
            await env.stop(daemon)

    text = out.decode()
    assert waiter.returncode == 1, text + err.decode()
    assert "manifest calls: 2 jobs (1 done, 1 failed)" in text
    failures = text[text.index("failures:") :]
    assert str(audio / FILES[1]) in failures


async def test_ctrl_c_stops_the_watching_not_the_batch(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    env = DaemonEnv.create(tmp_path, s3_server, s3_bucket, "http://127.0.0.1:9")
    manifest = write_manifest(env, env.copy_audio(FILES))
    waiter = await asyncio.create_subprocess_exec(
        *env.command("submit", "--wait", "--interval", "0.2", str(manifest)),
        env=env.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert waiter.stdout is not None
    await lines_until(waiter.stdout, "submitted", [])
    waiter.send_signal(signal.SIGINT)
    _out, err = await asyncio.wait_for(waiter.communicate(), LIMIT_S)
    assert waiter.returncode == 130, err.decode()
    assert "stopped watching; the manifests go on" in err.decode()
    assert (env.inbox / "calls.yaml").exists()
