"""`bad_files: skip`: validate and submit let a folder go with its unreadable files listed
as warnings, and the daemon runs the rest and lists them in the report; without it
(`refuse`, the default) the manifest is refused for them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import S3Server
from tests.support.daemon import emulated_daemon

pytestmark = pytest.mark.e2e


def manifest(folder: Path, policy: str | None) -> Path:
    path = folder.parent / f"calls-{policy}.yaml"
    line = "" if policy is None else f"bad_files: {policy}\n"
    path.write_text(f"name: calls\nbase_dir: {folder}\n{line}jobs:\n  - ./\n", "utf-8")
    return path


async def test_bad_files_skip_lets_the_rest_go_and_the_report_lists_them(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulated_daemon(tmp_path, s3_server, s3_bucket) as (_emu, env):
        folder = env.copy_audio(("greeting-mono.ogg", "voicemail-mono.wav"), "calls")
        good = (folder / "voicemail-mono.wav").read_bytes()
        (folder / "cut.wav").write_bytes(good[:30])  # a recording cut short in its header

        for refused in (manifest(folder, None), manifest(folder, "refuse")):
            result = await env.cli("validate", str(refused))
            assert result.returncode == 2, result
            assert f"error: {refused}:" in result.stderr
            assert "cut.wav" in result.stderr

        skip = manifest(folder, "skip")
        result = await env.cli("validate", str(skip))
        assert result.returncode == 0, result
        assert "ok: " in result.stdout
        assert "3 jobs (1 bad file(s) skipped: the daemon fails them)" in result.stdout
        (warning,) = result.stderr.splitlines()
        assert warning.startswith(f"warning: {skip}:")
        assert "cut.wav" in warning
        assert warning.endswith("(bad_files: skip)")
        as_json = json.loads((await env.cli("validate", "--json", str(skip))).stdout)
        assert as_json["valid"] is True
        assert as_json["manifests"][0]["skipped"] == 1
        assert "cut.wav" in as_json["manifests"][0]["warnings"][0]["message"]

        planned = await env.cli("plan", str(skip))
        assert planned.returncode == 0, planned
        assert "cut.wav" in planned.stderr
        assert planned.stderr.startswith("warning: ")

        submitted = await env.cli("submit", str(skip))
        assert submitted.returncode == 0, submitted
        assert "cut.wav" in submitted.stderr
        assert await env.run_until_idle() == 0
        report = env.report("calls")
        assert report["counts"] == {"done": 2, "failed": 1}
        (failure,) = report["failures"]
        assert Path(failure["source"]).name == "cut.wav"
