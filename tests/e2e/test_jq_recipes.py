"""The operators' guide's jq recipes, run with the real jq over the log of a real daemon
that did a small batch (one job done, one failed): each prints what the guide says."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import S3Server
from tests.support.daemon import REPO, emulated_daemon

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed"),
]

GUIDE = REPO / "docs" / "operations.md"


def recipes() -> dict[str, str]:
    """The guide's one-liners, each under the comment that says what it prints, with the
    journal (``$J ...``) read from a file given as ``$LOG`` instead."""
    text = GUIDE.read_text("utf-8")
    block = text[text.index("J='journalctl") :]
    block = block[: block.index("```")]
    found: dict[str, str] = {}
    comment = ""
    for line in block.splitlines():
        if line.startswith("# "):
            comment = line[2:].rstrip(":")
        elif line.startswith("$J"):
            found[comment] = re.sub(r"^\$J[^|]*\|", 'cat "$LOG" |', line)
    return found


def run(recipe: str, log: Path, job_id: int) -> list[str]:
    """What ``recipe`` prints over ``log``, a line each; JOB_ID is ``job_id``."""
    command = recipe.replace("JOB_ID", shlex.quote(str(job_id)))
    result = subprocess.run(
        ["sh", "-c", command],
        env={"LOG": str(log), "PATH": "/usr/bin:/bin:/usr/local/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, (command, result.stderr)
    return result.stdout.splitlines()


async def test_every_jq_recipe_prints_what_the_guide_says(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulated_daemon(tmp_path, s3_server, s3_bucket) as (_emu, env):
        audio = env.copy_audio(("greeting-mono.ogg",))
        jobs = [{"audio": "greeting-mono.ogg"}, {"audio": "gone.wav"}]
        env.put_manifest("calls", jobs, base_dir=audio)
        assert await env.run_until_idle() == 0
        log = env.log_files[0]
        failed = env.events("job.failed")
        assert len(failed) == 1
        job_id = failed[0]["job_id"]
        assert isinstance(job_id, int)
    found = recipes()
    assert len(found) == 7, found
    outputs = {name: run(recipe, log, job_id) for name, recipe in found.items()}

    def printed(start: str) -> list[str]:
        (name,) = [name for name in outputs if name.startswith(start)]
        return outputs[name]

    follow = [json.loads(line) for line in printed("Follow failures, throttling and expiry")]
    assert [event["event"] for event in follow] == ["job.failed"]
    (failure,) = printed("Jobs that failed today, one line each, with the request ids")
    assert failure.split("\t")[1:3] == ["calls", str(job_id)]
    assert "gone.wav" in failure
    assert printed("429s received in the last hour, by quota") == ["null"]
    life: list[dict[str, Any]] = [json.loads(line) for line in printed("The life of one job")]
    assert life
    assert {entry["event"] for entry in life} >= {"job.state", "job.failed"}
    assert life[-1]["event"] == "job.failed"
    daemon = [json.loads(line) for line in printed("Starts, stops and reloads")]
    assert daemon
    assert all(entry["event"].startswith("daemon.") for entry in daemon)
    (finished,) = printed("Manifests finished, with their counts")
    assert json.loads(finished)["manifest"] == "calls"
    assert printed("Completion hooks that failed or are being retried") == []
