"""The hooks' runner against a real store and real processes: a failing command is retried
then fails with the end of its stderr, a command past its timeout is killed, a program
that cannot run and a hook the config no longer allows fail at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from structlog.testing import capture_logs

from orchestrator.config import HooksConfig
from orchestrator.core.hooks import Hook, OnFinish
from orchestrator.core.settings import RecognitionSettings
from orchestrator.service.hook_calls import command_env, post_webhook, run_command
from orchestrator.service.hooks import HookRunner
from orchestrator.storage.local import LocalStorage
from orchestrator.store import NewJob, Store
from tests.support.daemon import eventually


def python(code: str) -> tuple[str, ...]:
    return (sys.executable, "-c", code)


# Each of a manifest of its own (a manifest has one command and one webhook at most).
HOOKS = (
    Hook(
        "command",
        "manifest",
        command=python("import sys; print('oops', file=sys.stderr); sys.exit(3)"),
    ),
    Hook("command", "manifest", command=python("import time; time.sleep(60)")),
    Hook("command", "manifest", command=("/nonexistent/program",)),
    Hook("webhook", "manifest", url="http://127.0.0.1:9/not-allowed"),
)


async def run_until(
    runner: HookRunner, done: Callable[[], Awaitable[bool]], limit_s: float
) -> None:
    """Run ``runner`` until ``done()`` holds (``limit_s``: a guard, not a timing), then stop
    it and wait for it."""
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        await eventually(done, limit_s=limit_s)
    finally:
        stop.set()
        await task


def nothing_pending(store: Store) -> Callable[[], Awaitable[bool]]:
    """Whether no delivery of ``store`` is pending any more."""

    async def settled() -> bool:
        return not await store.pending_hooks()

    return settled


async def finished_with(store: Store, name: str, report: Path, hook: Hook) -> int:
    """A manifest ``name`` that asked for ``hook`` itself, finished: its delivery pending."""
    on_finish = OnFinish(command=hook.command or None, webhook=hook.url or None)
    manifest_id, _ = await store.add_manifest(
        name,
        f"/{name}.yaml",
        name,
        [NewJob(f"/{name}.ogg", name, RecognitionSettings())],
        1.0,
        on_finish=on_finish,
    )
    await store.finish_manifest(manifest_id, str(report), f"/p/{name}.yaml", 2.0, (hook,))
    return manifest_id


async def test_failures_are_retried_bounded_and_said(store: Store, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text('{"manifest": "m"}\n', "utf-8")
    for number, hook in enumerate(HOOKS):
        await finished_with(store, f"m{number}", report, hook)
    config = HooksConfig(
        command_timeout_s=0.5,
        max_attempts=2,
        base_delay_s=0.01,
        max_delay_s=0.02,
        manifest_commands=(sys.executable, "/nonexistent/program"),
    )
    with capture_logs() as logs:
        await run_until(HookRunner(store, lambda: config), nothing_pending(store), limit_s=60)

    found = {d.manifest: d for d in await store.hook_deliveries()}
    failing, sleeping, missing, refused = (found[f"m{number}"] for number in range(4))
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
    config = HooksConfig(
        command_timeout_s=30.0, max_attempts=1, on_finish=OnFinish(command=hook.command)
    )
    async with LocalStorage(tmp_path / "objects", "bucket") as storage:
        await storage.put_text("out/m/report.json", '{"manifest": "m"}\n')
        await store.finish_manifest(
            manifest_id, "s3://bucket/out/m/report.json", "/p/m.yaml", 2.0, (hook,)
        )
        runner = HookRunner(store, lambda: config, storage=storage)
        await run_until(runner, nothing_pending(store), limit_s=60)
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


async def test_a_command_that_leaves_a_child_behind_succeeds_at_once(tmp_path: Path) -> None:
    # `sleep 30 &` keeps the command's stderr open after it exits 0: that is a delivery,
    # said soon after the exit, not a timeout run again.
    # Had the attempt waited for the pipe, it would have timed out (20 s) and failed.
    outcome, status = await run_command(
        ("/bin/sh", "-c", "sleep 30 & exit 0"), "/r.json", b"{}", 20.0, command_env({})
    )
    assert (outcome.ok, status) == (True, 0)


async def test_a_grandchild_out_of_the_process_group_does_not_hold_the_attempt(
    tmp_path: Path,
) -> None:
    # A grandchild in a session of its own escapes the kill of the command's process group
    # and keeps its stderr open: the attempt still ends at its timeout.
    pid_file = tmp_path / "escaped.pid"
    escape = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen(['sleep', '40'], start_new_session=True)\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    try:
        # A hang (the grandchild holds stderr for 40 s) would end in wait_for's TimeoutError.
        outcome, _status = await asyncio.wait_for(
            run_command(python(escape), "/r.json", b"{}", 1.0, command_env({})), 30
        )
    finally:
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
    assert (outcome.ok, outcome.error) == (False, "timed out (killed)")


async def test_manifest_hooks_cannot_take_the_config_hooks_slots(
    store: Store, tmp_path: Path
) -> None:
    # Slow manifest commands fill every slot they may have; the config's own hook is
    # delivered meanwhile.
    report = tmp_path / "report.json"
    report.write_text("{}\n", "utf-8")
    slow = [
        Hook("command", "manifest", command=python(f"import time; time.sleep(20); {n}"))
        for n in range(6)
    ]
    for number, hook in enumerate(slow):
        await finished_with(store, f"slow{number}", report, hook)
    done = tmp_path / "done"
    mine = Hook("command", "config", command=python(f"open({str(done)!r}, 'w')"))
    await finished_with(store, "mine", report, mine)
    config = HooksConfig(
        command_timeout_s=60.0,
        manifest_commands=(sys.executable,),
        on_finish=OnFinish(command=mine.command),
    )

    async def delivered() -> bool:
        return done.exists()

    await run_until(HookRunner(store, lambda: config), delivered, limit_s=10)


async def test_config_hooks_are_the_config_in_force_at_each_attempt(
    store: Store, tmp_path: Path
) -> None:
    # A delivery of the config's command runs the command the config has now; once the
    # config has none, the delivery is cancelled (and said), never run.
    report = tmp_path / "report.json"
    report.write_text("{}\n", "utf-8")
    old, new = tmp_path / "old", tmp_path / "new"
    stored = Hook("command", "config", command=python(f"open({str(old)!r}, 'w')"))
    for name in ("changed", "removed"):
        manifest_id, _ = await store.add_manifest(
            name, f"/{name}.yaml", name, [NewJob(f"/{name}.ogg", name, RecognitionSettings())], 1.0
        )
        await store.finish_manifest(manifest_id, str(report), f"/p/{name}", 2.0, (stored,))
    now = OnFinish(command=python(f"open({str(new)!r}, 'w')"))
    configs = {"changed": HooksConfig(on_finish=now), "removed": HooksConfig()}
    current = configs["changed"]
    runner = HookRunner(store, lambda: current)

    async def changed_ended() -> bool:
        return all(d.id != changed.id for d in await store.pending_hooks())

    (changed, removed) = await store.pending_hooks()
    await store.record_hook(removed.id, "pending", 0, 1e12, None, 2.0)  # not due yet
    await run_until(runner, changed_ended, limit_s=30)
    assert new.exists()
    assert not old.exists()
    current = configs["removed"]
    await store.record_hook(removed.id, "pending", 0, 0.0, None, 2.0)
    with capture_logs() as logs:
        await run_until(runner, nothing_pending(store), limit_s=30)
    assert not old.exists()
    by_manifest = {d.manifest: d for d in await store.hook_deliveries()}
    assert by_manifest["changed"].state == "delivered"
    gone = by_manifest["removed"]
    assert gone.state == "failed"
    assert (
        gone.last_error == "cancelled: the config no longer has this hook (hooks.on_finish.command)"
    )
    assert [e["manifest"] for e in logs if e["event"] == "hook.cancelled"] == ["removed"]
