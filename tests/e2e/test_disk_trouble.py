"""An output directory that cannot be written: the job waits, then stays retryable with a
reason that says what is wrong, nothing half-written is left, and other work goes on.

The directory is made read-only for real. Tests usually run as root, which ignores modes,
so the daemon runs under ``setpriv`` without that override (tests/support/privileges.py).
A full disk fails the same write with another errno (ENOSPC, or EFBIG past a file size
limit): tests/unit/test_outputs.py makes a real EFBIG of the same write with RLIMIT_FSIZE.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import S3Server
from tests.support.daemon import emulated_daemon
from tests.support.privileges import obeying_file_modes

pytestmark = pytest.mark.e2e


async def test_a_read_only_output_directory_leaves_the_job_retryable(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulated_daemon(
        tmp_path,
        s3_server,
        s3_bucket,
        retry={"max_attempts": 3, "base_delay_s": 0.05, "max_delay_s": 0.2},
    ) as (_emu, env):
        env.wrapper = obeying_file_modes()
        audio = env.copy_audio(("greeting-mono.ogg", "voicemail-mono.wav", "call-stereo.ogg"))
        locked = env.results / "disk" / "locked"
        locked.mkdir(parents=True)
        locked.chmod(0o555)
        env.put_manifest(
            "disk",
            [
                {"audio": "greeting-mono.ogg", "output": "locked/hello"},
                {"audio": "voicemail-mono.wav"},
            ],
            base_dir=audio,
        )
        env.put_manifest("other", [{"audio": "call-stereo.ogg"}], base_dir=audio)
        assert await env.run_until_idle(limit_s=90) == 0

        # Nothing half-written, not even a temporary file.
        assert list(locked.iterdir()) == []
        report = json.loads((env.results / "disk" / "report.json").read_text("utf-8"))
        assert report["counts"] == {"done": 1, "failed": 1}
        (failure,) = report["failures"]
        assert failure["reason"].startswith("gave up after 3 attempts: writing the results failed")
        assert f"not writable by the daemon): {locked}" in failure["reason"]
        (failed,) = env.events("job.failed")
        assert failed["reason_class"] == "retries_exhausted"
        assert failed["retryable"] is True
        assert len(env.events("job.retry")) == 2
        other = json.loads((env.results / "other" / "report.json").read_text("utf-8"))
        assert other["counts"] == {"done": 1}

        # The operator fixes the directory and retries: the transcript is written once.
        locked.chmod(0o755)
        retried = await env.cli("retry", "disk")
        assert retried.returncode == 0, retried.stderr
        assert await env.run_until_idle(limit_s=60) == 0
    assert sorted(p.name for p in locked.iterdir()) == [
        "hello.json",
        "hello.srt",
        "hello.txt",
        "hello.vtt",
    ]
    report = json.loads((env.results / "disk" / "report.json").read_text("utf-8"))
    assert report["counts"] == {"done": 2}
