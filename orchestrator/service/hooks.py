"""The completion hooks' runner: delivers each pending hook of a finished manifest as its
own task, never in the pipeline's way.

The finisher adds the deliveries in the transaction that finishes a manifest; this runner
reads the pending ones from the store (so a delivery interrupted by a crash is made again
at the next start: at-least-once), makes each attempt, and records its outcome there. What
follows an attempt is ``core.hooks.after_attempt``'s decision.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp

from orchestrator.config import HooksConfig
from orchestrator.core.hooks import (
    Attempt,
    Hook,
    HookDelivery,
    HookOrigin,
    OnFinish,
    after_attempt,
)
from orchestrator.core.refs import ObjectRef, is_object_uri
from orchestrator.service.hook_calls import command_env, post_webhook, run_command
from orchestrator.storage.protocol import ObjectStorage, StorageError
from orchestrator.store.protocol import Store
from orchestrator.telemetry.logs import get_logger

log = get_logger()

# Attempts in flight at once, for the config's hooks and for the manifests' hooks each (a
# command may take its whole timeout; slow manifest hooks never hold up the operator's).
CONCURRENT_ATTEMPTS = 4
# The pending deliveries are read again at least this often (another process may add some).
RESCAN_S = 30.0
# A report larger than this is not sent (nor read into memory).
MAX_REPORT_BYTES = 256 * 1024 * 1024


class HookRunner:
    """Makes the pending deliveries of this daemon's manifests."""

    def __init__(
        self,
        store: Store,
        config: Callable[[], HooksConfig],
        node: str | None = None,
        storage: ObjectStorage | None = None,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.store = store
        self.config = config  # read at each attempt: a reload applies at once
        self.node = node
        self.storage = storage
        self.clock = clock
        self.rand = rand
        self._wake = asyncio.Event()
        self._attempts: dict[int, asyncio.Task[None]] = {}
        self._origins: dict[int, HookOrigin] = {}  # of the attempts in flight
        self._session: aiohttp.ClientSession | None = None
        self._error: str | None = None

    def wake(self) -> None:
        """Look at the pending deliveries now (a manifest has just finished)."""
        self._wake.set()

    @property
    def busy(self) -> bool:
        """Whether an attempt is in flight."""
        return bool(self._attempts)

    async def run(self, stop: asyncio.Event) -> None:
        """Start each due delivery until ``stop`` is set; then give the attempts in flight
        a moment, and cancel the rest (they stay pending, for the next start)."""
        async with aiohttp.ClientSession() as session:
            self._session = session
            try:
                while not stop.is_set():
                    self._wake.clear()
                    wait_s = await self._start_due()
                    stopping = asyncio.ensure_future(stop.wait())
                    waking = asyncio.ensure_future(self._wake.wait())
                    try:
                        await asyncio.wait(
                            (stopping, waking),
                            timeout=wait_s,
                            return_when=asyncio.FIRST_COMPLETED,
                        )
                    finally:
                        stopping.cancel()
                        waking.cancel()
            finally:
                await self._stop_attempts()
                self._session = None

    async def _start_due(self) -> float:
        """Start the due deliveries; seconds until the next one is due (at most RESCAN_S)."""
        try:
            pending = await self.store.pending_hooks(self.node)
        except Exception as exc:
            if str(exc) != self._error:
                log.error("hook.scan_error", error=str(exc), exc_info=True)
            self._error = str(exc)
            return RESCAN_S
        self._error = None
        now = self.clock()
        wait_s = RESCAN_S
        for delivery in pending:
            if delivery.id in self._attempts:
                continue
            if delivery.next_attempt_at > now:
                wait_s = min(wait_s, delivery.next_attempt_at - now)
                continue
            origin = delivery.hook.origin
            if list(self._origins.values()).count(origin) >= CONCURRENT_ATTEMPTS:
                continue  # a finished attempt wakes the loop
            task = asyncio.create_task(self._attempt(delivery), name=f"hook-{delivery.id}")
            self._attempts[delivery.id] = task
            self._origins[delivery.id] = origin
            task.add_done_callback(functools.partial(self._done, delivery.id))
        return max(0.0, wait_s)

    def _done(self, delivery: int, _task: asyncio.Task[None]) -> None:
        self._attempts.pop(delivery, None)
        self._origins.pop(delivery, None)
        self._wake.set()

    async def _stop_attempts(self, grace_s: float = 5.0) -> None:
        running = list(self._attempts.values())
        if not running:
            return
        _done, late = await asyncio.wait(running, timeout=grace_s)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    async def _attempt(self, delivery: HookDelivery) -> None:
        """One attempt, its outcome recorded and logged; never raises (a bug is logged)."""
        try:
            await self._attempt_once(delivery)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error(
                "hook.error",
                manifest=delivery.manifest,
                delivery_id=delivery.delivery_id,
                error=str(exc),
                exc_info=True,
            )

    async def _attempt_once(self, delivery: HookDelivery) -> None:
        config = self.config()
        attempts = delivery.attempts + 1
        started = time.monotonic()
        outcome, code = await self._call(delivery, config, attempts)
        now = self.clock()
        after = after_attempt(outcome, attempts, config.retry, now, self.rand())
        await self.store.record_hook(
            delivery.id, after.state, after.attempts, after.next_attempt_at, after.error, now
        )
        hook = delivery.hook
        fields = {
            "manifest": delivery.manifest,
            "manifest_id": delivery.manifest_id,
            "delivery_id": delivery.delivery_id,
            "kind": hook.kind,
            "origin": hook.origin,
            "target": hook.target,
            "attempts": attempts,
            "took_s": round(time.monotonic() - started, 3),
            ("http_status" if hook.kind == "webhook" else "exit_status"): code,
        }
        if after.state == "delivered":
            log.info("hook.succeeded", **fields)
        elif after.state == "pending":
            retry_in = round(after.next_attempt_at - now, 3)
            log.warning("hook.retry", **fields, error=after.error, retry_in_s=retry_in)
        else:
            log.error("hook.failed", **fields, error=after.error)

    async def _call(
        self, delivery: HookDelivery, config: HooksConfig, attempt: int
    ) -> tuple[Attempt, int | None]:
        """Make the attempt: the hook taken from the config or the manifest as they are now
        (never from the store), the policy checked again (the config may have changed since
        the manifest came in), the report read, the command run or the webhook POSTed."""
        hook = await self._hook_now(delivery, config)
        if hook is None:
            where = "the config" if delivery.hook.origin == "config" else "its manifest"
            field = "hooks.on_finish" if delivery.hook.origin == "config" else "on_finish"
            error = f"cancelled: {where} no longer has this hook ({field}.{delivery.hook.kind})"
            log.warning(
                "hook.cancelled",
                manifest=delivery.manifest,
                delivery_id=delivery.delivery_id,
                kind=delivery.hook.kind,
                origin=delivery.hook.origin,
                target=delivery.hook.target,
                error=error,
            )
            return Attempt(ok=False, error=error), None
        refusal = config.policy.refusal(hook)
        if refusal is not None:
            return Attempt(ok=False, error=f"refused: {refusal}"), None
        report_path = delivery.report_path or ""
        try:
            body = await self._report(report_path)
        except (OSError, StorageError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            error = f"the report {report_path} cannot be read: {reason}"
            return Attempt(ok=False, error=error, retryable=True), None
        if hook.kind == "command":
            env = command_env(
                {
                    "SPEECHKIT_MANIFEST": delivery.manifest,
                    "SPEECHKIT_REPORT": report_path,
                    "SPEECHKIT_DELIVERY_ID": delivery.delivery_id,
                    "SPEECHKIT_ATTEMPT": str(attempt),
                }
            )
            return await run_command(hook.command, report_path, body, config.command_timeout_s, env)
        if config.secret is None:
            return Attempt(ok=False, error="no signing secret (hooks.secret_*) is configured"), None
        assert self._session is not None
        return await post_webhook(
            self._session,
            hook.url,
            body,
            config.secret.reveal(),
            delivery.delivery_id,
            int(self.clock()),
            config.webhook_timeout_s,
        )

    async def _hook_now(self, delivery: HookDelivery, config: HooksConfig) -> Hook | None:
        """The delivery's hook as the config in force (a config hook) or the manifest's own
        ``on_finish`` (a manifest hook) has it now; None when it has none of that kind."""
        origin = delivery.hook.origin
        if origin == "config":
            on_finish = config.on_finish
        else:
            on_finish = await self.store.manifest_on_finish(delivery.manifest_id) or OnFinish()
        for hook in on_finish.hooks(origin):
            if hook.kind == delivery.hook.kind:
                return hook
        return None

    async def _report(self, report_path: str) -> bytes:
        """The report's JSON as written: a local file, or an object under the outputs'
        prefix. OSError or StorageError when it cannot be had."""
        if is_object_uri(report_path):
            if self.storage is None:
                raise OSError(2, "no object storage to read it from", report_path)
            data = await self.storage.get_bytes(ObjectRef.parse(report_path).key, MAX_REPORT_BYTES)
            if data is None:
                raise FileNotFoundError(2, "No such object", report_path)
            return data
        path = Path(report_path)

        def read() -> bytes:
            with path.open("rb") as handle:
                data = handle.read(MAX_REPORT_BYTES + 1)
            if len(data) > MAX_REPORT_BYTES:
                raise OSError(27, f"larger than {MAX_REPORT_BYTES} bytes")
            return data

        return await asyncio.to_thread(read)
