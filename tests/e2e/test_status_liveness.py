"""``status`` says whether a daemon is at work on the store and what waits in the inbox:
through the real CLI and the real daemon."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import S3Server
from tests.support.daemon import DaemonEnv, emulated_daemon, eventually

pytestmark = pytest.mark.e2e


async def status(env: DaemonEnv) -> str:
    result = await env.cli("status")
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


async def test_status_says_the_daemon_is_down_and_what_waits_in_the_inbox(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulated_daemon(tmp_path, s3_server, s3_bucket) as (_emu, env):
        audio = env.copy_audio(("greeting-mono.ogg",))
        env.put_manifest("calls", [{"audio": "greeting-mono.ogg"}], base_dir=audio)
        before = await status(env)
        assert "daemon: none has run on this store yet" in before
        assert f"inbox {env.inbox}: 1 manifest(s) not yet taken in: calls.yaml" in before

        daemon = await env.start()
        try:
            await env.wait_for_event("manifest.finished", manifest="calls")

            async def running() -> bool:
                return any(
                    line.startswith("daemon") and ": running, pid " in line
                    for line in (await status(env)).splitlines()
                )

            await eventually(running)
            assert "not yet taken in" not in await status(env)
        finally:
            assert await env.stop(daemon) == 0
        after = await status(env)
        said = [line for line in after.splitlines() if line.startswith("daemon")]
        assert len(said) == 1
        assert ": stopped " in said[0]
        assert said[0].endswith("; nothing is being worked on")
