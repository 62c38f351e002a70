"""``cancel`` and ``retry`` through the real CLI beside the real daemon: each logs an event
of its own and a ``job.state`` line per job it moved; a manifest whose jobs were only
cancelled finishes with them counted apart from failures, and is filed in ``processed/``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import S3Server
from tests.support.daemon import emulated_daemon

pytestmark = pytest.mark.e2e

# The emulator's operations never end within the test: the jobs wait until cancelled.
NEVER_S = 1e9


def events(stderr: str) -> list[dict[str, Any]]:
    """The JSON log lines a command wrote on stderr."""
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


async def test_a_manifest_only_cancelled_is_processed_with_its_cancelled_counted_apart(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    options = {"processing_overhead_s": NEVER_S}
    async with emulated_daemon(tmp_path, s3_server, s3_bucket, emulator_options=options) as (
        _emu,
        env,
    ):
        audio = env.copy_audio(("greeting-mono.ogg", "call-stereo.ogg"))
        jobs = [{"audio": "greeting-mono.ogg"}, {"audio": "call-stereo.ogg"}]
        env.put_manifest("calls", jobs, base_dir=audio)
        daemon = await env.start()
        try:
            await env.wait_for_event("manifest.accepted", manifest="calls")
            cancel = await env.cli("cancel", "calls")
            assert cancel.returncode == 0, cancel.stderr
            assert "calls: 2 job(s) cancelled" in cancel.stdout
            [finished] = await env.wait_for_event("manifest.finished", manifest="calls")
        finally:
            assert await env.stop(daemon) == 0
    assert finished["failed"] == 0
    assert finished["cancelled"] == 2
    assert finished["counts"] == {"cancelled": 2}
    assert Path(finished["manifest_file"]).parent == env.root / "processed"
    assert "2 cancelled" in (env.results / "calls" / "report.txt").read_text("utf-8")
    said = events(cancel.stderr)
    moves = [e for e in said if e["event"] == "job.state"]
    assert sorted(e["source"].rsplit("/", 1)[-1] for e in moves) == [
        "call-stereo.ogg",
        "greeting-mono.ogg",
    ]
    assert {(e["manifest"], e["to"]) for e in moves} == {("calls", "cancelled")}
    [cancelled] = [e for e in said if e["event"] == "manifest.cancelled"]
    assert cancelled["manifest"] == "calls"
    assert cancelled["jobs"] == 2
    assert sum(cancelled["moved_from"].values()) == 2

    # The daemon is not running: `retry` changes the store and says so all the same.
    retry = await env.cli("retry", "calls")
    assert retry.returncode == 0, retry.stderr
    said = events(retry.stderr)
    moves = [e for e in said if e["event"] == "job.state"]
    assert [(e["from"], e["to"]) for e in moves] == [("cancelled", "queued")] * 2
    [retried] = [e for e in said if e["event"] == "manifest.retried"]
    assert (retried["jobs"], retried["moved_from"]) == (2, {"cancelled": 2})
