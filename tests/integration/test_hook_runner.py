"""The hooks' runner against a real store and real processes: a failing command is retried
then fails with the end of its stderr, a command past its timeout is killed, a program
that cannot run and a hook the config no longer allows fail at once."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import aiohttp
import pytest
from structlog.testing import capture_logs

from orchestrator.config import HooksConfig
from orchestrator.core.hooks import Hook, HookDelivery
from orchestrator.core.settings import RecognitionSettings
from orchestrator.service.hook_calls import post_webhook
from orchestrator.service.hooks import HookRunner
from orchestrator.storage.local import LocalStorage
from orchestrator.store import NewJob, Store
from tests.support.daemon import eventually


def python(code: str) -> tuple[str, ...]:
    return (sys.executable, "-c", code)


HOOKS = (
    Hook(
        "command",
        "config",
        command=python("import sys; print('oops', file=sys.stderr); sys.exit(3)"),
    ),
    Hook("command", "config", command=python("import time; time.sleep(60)")),
    Hook("command", "config", command=("/nonexistent/program",)),
    Hook("webhook", "manifest", url="http://127.0.0.1:9/not-allowed"),
)


async def test_failures_are_retried_bounded_and_said(store: Store, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text('{"manifest": "m"}\n', "utf-8")
    manifest_id, _ = await store.add_manifest(
        "m", "/m.yaml", "d", [NewJob("/a.ogg", "a", RecognitionSettings())], 1.0
    )
    await store.finish_manifest(manifest_id, str(report), "/p/m.yaml", 2.0, HOOKS)
    config = HooksConfig(command_timeout_s=0.5, max_attempts=2, base_delay_s=0.01, max_delay_s=0.02)
    runner = HookRunner(store, lambda: config)
    stop = asyncio.Event()
    with capture_logs() as logs:
        task = asyncio.create_task(runner.run(stop))

        async def settled() -> bool:
            return not await store.pending_hooks()

        try:
            await eventually(settled, limit_s=60)
        finally:
            stop.set()
            await task

    found: dict[str, HookDelivery] = {
        d.hook.command[-1] if d.hook.kind == "command" else d.hook.url: d
        for d in await store.hook_deliveries()
    }
    failing, sleeping, missing, refused = (
        found[HOOKS[0].command[-1]],
        found[HOOKS[1].command[-1]],
        found["/nonexistent/program"],
        found[HOOKS[3].url],
    )
    assert (failing.state, failing.attempts, failing.last_error) == (
        "failed",
        2,
        "exit status 3: oops",
    )
    assert (sleeping.state, sleeping.attempts, sleeping.last_error) == (
        "failed",
        2,
        "timed out (killed)",
    )
    assert (missing.state, missing.attempts) == ("failed", 1)
    assert missing.last_error is not None
    assert missing.last_error.startswith("cannot run /nonexistent/program:")
    assert (refused.state, refused.attempts) == ("failed", 1)
    assert refused.last_error is not None
    assert "hooks.manifest_webhooks: none" in refused.last_error

    events = [e["event"] for e in logs if e["event"].startswith("hook.")]
    assert events.count("hook.retry") == 2
    assert events.count("hook.failed") == 4
    assert "hook.succeeded" not in events
    assert all('"manifest": "m"' not in str(e) for e in logs)  # never the report's contents


async def test_a_report_in_object_storage_is_given_to_the_command(
    store: Store, tmp_path: Path
) -> None:
    # Object storage in a directory: where the report comes from is the subject, not S3.
    copy = tmp_path / "copy.json"
    hook = Hook(
        "command",
        "config",
        command=python(f"import sys; open({str(copy)!r}, 'wb').write(sys.stdin.buffer.read())"),
    )
    manifest_id, _ = await store.add_manifest(
        "m", "/m.yaml", "d", [NewJob("/a.ogg", "a", RecognitionSettings())], 1.0
    )
    config = HooksConfig(command_timeout_s=30.0, max_attempts=1)
    async with LocalStorage(tmp_path / "objects", "bucket") as storage:
        await storage.put_text("out/m/report.json", '{"manifest": "m"}\n')
        await store.finish_manifest(
            manifest_id, "s3://bucket/out/m/report.json", "/p/m.yaml", 2.0, (hook,)
        )
        runner = HookRunner(store, lambda: config, storage=storage)
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))

        async def settled() -> bool:
            return not await store.pending_hooks()

        try:
            await eventually(settled, limit_s=60)
        finally:
            stop.set()
            await task
    (delivery,) = await store.hook_deliveries()
    assert (delivery.state, delivery.last_error) == ("delivered", None)
    assert copy.read_text("utf-8") == '{"manifest": "m"}\n'


@pytest.mark.parametrize(
    "url",
    [
        "http:///calls/x?access_token=zz-tok-value",
        "http://[::1/calls/x?access_token=zz-tok-value",
        "http://127.0.0.1:9/calls/x?access_token=zz-tok-value",
    ],
)
async def test_a_webhook_error_never_quotes_its_url(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        outcome, status = await post_webhook(
            session, url, b"{}", "a-secret-of-length", "d-1", 1700000000, 5.0
        )
    assert status is None
    assert outcome.error is not None
    assert not outcome.ok
    assert "zz-tok-value" not in outcome.error
    assert "/calls" not in outcome.error  # the message is made of a status and a reason
