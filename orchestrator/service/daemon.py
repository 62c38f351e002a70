"""The daemon: opens the store, recovers, runs intake, the pipeline and the completion
hooks, serves status, drains.

Signals (``service.control``): SIGTERM/SIGINT drain (no new work; steps in flight finish or
are left recorded in the store) and exit 0; a second one exits at once (every store write
is a transaction, so the store stays consistent). SIGHUP reloads the configuration and
rescans the inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import aiohttp

from orchestrator.auth import Credentials
from orchestrator.config import Config
from orchestrator.core.apis import ApiCatalogue
from orchestrator.core.destinations import destinations
from orchestrator.core.jobs import ACTIVE, STAGE_OF, TERMINAL, Job, State
from orchestrator.intake.inbox import Intake
from orchestrator.intake.roots import InputRoots
from orchestrator.intake.standing import Standing
from orchestrator.pipeline.pipeline import Pipeline
from orchestrator.pipeline.settings import PipelineSettings, settings_from_config
from orchestrator.service import loop_errors
from orchestrator.service.control import Control, log_warnings
from orchestrator.service.finisher import Finisher
from orchestrator.service.hooks import HookRunner
from orchestrator.service.liveness import BEAT_S, beat
from orchestrator.service.notify import Notifier, watchdog_task
from orchestrator.service.progress import status_line
from orchestrator.service.recovery import sweep
from orchestrator.service.status_server import Limits, StatusServer, StatusServerError
from orchestrator.service.status_view import StatusView
from orchestrator.speechkit.catalogue import CATALOGUE
from orchestrator.speechkit.clients import make_clients
from orchestrator.storage.factory import open_object_storage
from orchestrator.storage.protocol import ObjectStorage
from orchestrator.store import Store, StoreError, open_store
from orchestrator.telemetry import logs
from orchestrator.telemetry.metrics import DaemonMetrics

log = logs.get_logger()

INBOX_SCAN_S = 1.0
# The watchdog stops pinging when the store has not answered for this long.
STORE_STALE_S = 120.0
# STATUS= is sent when a manifest comes in or a job ends, at most once per gap, and at
# least every STATUS_EVERY_S when it changed.
STATUS_EVERY_S = BEAT_S
STATUS_MIN_GAP_S = 1.0
# How often manifests whose report could not be written are tried again.
FINISH_RETRY_S = 10.0
# The bucket's check at the start waits this long at most before work starts.
BUCKET_CHECK_S = 30.0


@dataclass
class RunOptions:
    """How `run` was asked to behave."""

    until_idle: bool = False  # exit once the inbox is empty and every job has ended
    settle_s: float = 1.0


class Daemon:
    """One daemon process over one state file."""

    def __init__(
        self,
        config: Config,
        config_path: Path | None,
        options: RunOptions | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        # The config in force, the stop event and the answers to signals live there.
        self.control = Control(config, config_path, notifier or Notifier.from_env())
        self.options = options or RunOptions()
        self.metrics = DaemonMetrics(quotas=CATALOGUE.request_quotas())
        self.started_at = time.time()
        self.metrics.start_time.set(self.started_at)
        self._finish_wake = asyncio.Event()
        self._status_wake = asyncio.Event()
        self._health_probe: asyncio.Task[bool] | None = None
        self.store: Store | None = None
        self.pipeline: Pipeline | None = None
        self.intake: Intake | None = None
        self.standing: Standing | None = None  # the standing manifests' new files
        self.finisher: Finisher | None = None
        self.hooks: HookRunner | None = None
        # The status server's address as a URL (``http://host:port`` or ``unix:path``).
        self.status_address: str | None = None
        self._store_seen_at = time.monotonic()

    @property
    def config(self) -> Config:
        """The config in force (a reload replaces it)."""
        return self.control.config

    @property
    def stop(self) -> asyncio.Event:
        """Set when the daemon is to drain and stop."""
        return self.control.stop

    @property
    def notifier(self) -> Notifier:
        """systemd's notification socket (or nothing)."""
        return self.control.notifier

    # -- main ----------------------------------------------------------------------------

    async def run(self) -> int:
        """Run until stopped (or idle, with ``until_idle``); the exit status."""
        config = self.config
        log_warnings(config)
        # asyncio's own handler writes a plain traceback per error: a flood would drown
        # the journal past the JSON logger's bounds.
        loop_errors.install(asyncio.get_running_loop())
        for folder in (
            config.paths.inbox,
            config.paths.processed,
            config.paths.failed,
            config.paths.output,
        ):
            folder.mkdir(parents=True, exist_ok=True)
        store = await open_store(config)
        try:
            await store.acquire(config.service.node)
        except StoreError:
            await store.close()
            raise
        self.store = store
        try:
            return await self._run_with_store(store)
        finally:
            await store.close()

    async def _run_with_store(self, store: Store) -> int:
        config = self.config
        settings = settings_from_config(config)
        await self._recover(store, settings.node)
        self.control.install_signals(asyncio.get_running_loop())
        timeout = aiohttp.ClientTimeout(total=config.speechkit.request_timeout_s)
        storage = open_object_storage(config.storage)
        async with aiohttp.ClientSession(timeout=timeout) as session, storage:
            pipeline = await self._start_pipeline(store, storage, session, settings)
            await check_bucket(pipeline)
            intake = self._start_parts(store, storage, settings.node)
            self.control.attach(pipeline, intake)
            web = await self._start_web(store)
            try:
                return await self._serve(store, pipeline)
            finally:
                if web is not None:
                    await web.stop()

    async def _recover(self, store: Store, node: str) -> None:
        """Free the leases a crash left and sweep what it left half done."""
        released = await store.recover(node, time.time())
        await sweep(self.config, store)
        counts = await store.counts_by_state()
        log.info(
            "daemon.recovered",
            state_file=store.description,
            node=node,
            jobs=counts,
            leases=released,
        )

    async def _start_pipeline(
        self,
        store: Store,
        storage: ObjectStorage,
        session: aiohttp.ClientSession,
        settings: PipelineSettings,
    ) -> Pipeline:
        """The pipeline over the store, with what it learned before, hearing the store."""
        speechkit = self.config.speechkit
        installed = await installed_values(store, CATALOGUE)
        # One credential for every client; a reload swaps its source (control.reload).
        credentials = Credentials(speechkit, session, metrics=self.metrics)
        self.control.credentials = credentials
        pipeline = Pipeline(
            store,
            storage,
            make_clients(session, speechkit, installed=installed, credentials=credentials),
            settings,
            metrics=self.metrics,
            on_job_ended=self._job_ended,
        )
        await pipeline.load_state()
        await pipeline.reschedule_first_polls()
        await store.watch(self._heard)
        self.pipeline = pipeline
        return pipeline

    def _start_parts(self, store: Store, storage: ObjectStorage, node: str) -> Intake:
        """The completion hooks' runner, the finisher and intake; intake is returned."""
        config = self.config
        # Completion hooks run as their own tasks, after the finisher recorded them.
        self.hooks = HookRunner(store, lambda: self.config.hooks, node=node, storage=storage)
        self.finisher = Finisher(
            store,
            lambda: self.config.paths,
            node=node,
            storage=storage,
            results=destinations(config.outputs.s3_prefix, config.outputs.local),
            hooks=lambda: self.config.hooks,
            on_hooks=self.hooks.wake,
        )
        self.intake = Intake(
            store,
            config.paths.inbox,
            config.paths.failed,
            config.paths.processed,
            settle_s=self.options.settle_s,
            on_accepted=self._accepted,
            node=node,
            roots=InputRoots.of(config),
            hook_policy=config.hooks.policy,
            watch_settle_s=config.intake.watch_settle_s,
        )
        self.standing = Standing(
            store,
            InputRoots.of(config),
            settle_s=lambda: self.config.intake.watch_settle_s,
            rescan_s=lambda: self.config.intake.watch_rescan_s,
            node=node,
            on_added=self._accepted,
            on_change=self.control.scan_wake.set,
        )
        return self.intake

    async def _start_web(self, store: Store) -> StatusServer | None:
        status = self.config.status
        if status.listen_port is None and status.listen_unix is None:
            return None

        async def health() -> bool:
            return not self.stop.is_set() and await self._store_writable(store)

        async def refresh() -> None:
            self.metrics.set_jobs_by_state(await store.counts_by_state())
            await self._refresh_quota_metrics()

        assert self.pipeline is not None
        view = StatusView(store, self.pipeline, self.started_at)
        server = StatusServer(
            status.listen_host,
            status.listen_port,
            health,
            view.status,
            self.metrics,
            refresh=refresh,
            page=view.page,
            problems=self.control.problems,
            limits=Limits(
                max_connections=status.max_connections,
                header_timeout_s=status.header_timeout_s,
                keepalive_timeout_s=status.keepalive_timeout_s,
                unix_path=status.listen_unix,
            ),
        )
        try:
            await server.start()
            self.status_address = server.url
        except StatusServerError as exc:
            # The status page is an aid, not the job: carry on without it.
            log.error("status_server.failed", error=str(exc))
            return None
        return server

    async def _store_writable(self, store: Store) -> bool:
        """Whether a write to the store succeeds; one probe at a time, never cancelled.

        The status server gives up on a slow probe (the store locked by another process,
        say). Cancelling the write itself could cut it between its BEGIN and COMMIT and
        leave the daemon's one connection inside a transaction, so the probe is shielded:
        it finishes in the background and the next request starts a fresh one.
        """
        probe = self._health_probe
        if probe is None or probe.done():
            probe = asyncio.create_task(store.writable(), name="health-probe")
            self._health_probe = probe
        return await asyncio.shield(probe)

    async def _refresh_quota_metrics(self) -> None:
        """Quota used/left and pauses as of now (the pipeline only updates them when it
        dispatches)."""
        if self.pipeline is None:
            return
        await self.pipeline.ledger.report(self.pipeline.settings.quotas)

    async def _serve(self, store: Store, pipeline: Pipeline) -> int:
        assert self.intake is not None
        await self.intake.look()
        await self._finish_manifests()
        ready = status_line(await store.counts_by_state())
        self.notifier.ready(status=ready)
        log.info(
            "daemon.ready",
            state_file=store.description,
            inbox=str(self.config.paths.inbox),
            status_address=self.status_address,
            pid=os.getpid(),
        )
        helpers = [
            asyncio.create_task(self._intake_loop(), name="intake"),
            asyncio.create_task(self._folder_events(), name="folder-events"),
            asyncio.create_task(self._finish_loop(), name="finisher"),
            asyncio.create_task(self._status_loop(store), name="status"),
        ]
        if self.config.service.watchdog:
            helpers.append(
                asyncio.create_task(
                    watchdog_task(self.notifier, health=self._store_answers), name="watchdog"
                )
            )
        assert self.hooks is not None
        hooks = asyncio.create_task(self.hooks.run(self.stop), name="hooks")
        runner = asyncio.create_task(pipeline.run(self.stop), name="pipeline")
        await self.stop.wait()
        drain = self.config.service.drain_timeout_s
        try:
            await asyncio.wait_for(asyncio.shield(runner), timeout=drain)
        except TimeoutError:
            log.warning("daemon.drain_timeout", drain_timeout_s=drain, in_flight=pipeline.in_flight)
            await pipeline.abort()
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        await self.intake.aclose()  # a manifest half taken is taken again at the next start
        # The hooks' runner ends its attempts in flight (or leaves them pending) by itself.
        await asyncio.gather(hooks, return_exceptions=True)
        await self._finish_manifests()
        with contextlib.suppress(StoreError):
            await beat(store, self.config.service.node, time.time(), stopped=True)
        log.info("daemon.stopped", jobs=await store.counts_by_state())
        return 0

    async def _intake_loop(self) -> None:
        assert self.intake is not None
        assert self.standing is not None
        while not self.stop.is_set():
            await self.intake.look()
            await self.standing.look()
            if self.options.until_idle and await self._idle():
                log.info("daemon.idle", reason="the inbox is empty and every job has ended")
                self.control.request_stop("idle")
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.control.scan_wake.wait(), INBOX_SCAN_S)
            self.control.scan_wake.clear()

    async def _folder_events(self) -> None:
        assert self.standing is not None
        await self.standing.run_events()

    async def _idle(self) -> bool:
        assert self.intake is not None
        assert self.store is not None
        try:
            if self.intake.pending() or self.intake.waiting():
                return False
            if await self.store.any_in(list(ACTIVE)):
                return False
            if await self.store.manifests_to_finish(self.config.service.node):
                return False
            # Hooks still to deliver (even one waiting for its next attempt) keep it busy.
            busy = self.hooks is not None and self.hooks.busy
            return not busy and not await self.store.pending_hooks(self.config.service.node)
        except Exception:
            return False  # the next tick asks again; a scan that fails is logged there

    def _store_answers(self) -> bool:
        """For the watchdog: the store answered lately (a store stuck for good, like a
        blocked loop, gets the service restarted)."""
        return time.monotonic() - self._store_seen_at < STORE_STALE_S

    async def _status_loop(self, store: Store) -> None:
        last = ""
        while True:
            self._status_wake.clear()
            counts = await store.counts_by_state()
            self._store_seen_at = time.monotonic()
            # `status` tells a daemon at work from one gone by this (every STATUS_EVERY_S).
            await beat(store, self.config.service.node, time.time())
            self.metrics.set_jobs_by_state(counts)
            line = status_line(counts)
            if line != last:
                self.notifier.status(line)
                last = line
            # A burst of endings (a manifest finishing) makes one STATUS=, not one per job.
            await asyncio.sleep(STATUS_MIN_GAP_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._status_wake.wait(), max(0.0, STATUS_EVERY_S - STATUS_MIN_GAP_S)
                )

    def _accepted(self) -> None:
        """A manifest came in: start its jobs and show them in STATUS=."""
        assert self.pipeline is not None
        self.pipeline.kick()
        self._status_wake.set()

    def _heard(self, state: State) -> None:
        """A job entered ``state`` (maybe through another daemon sharing the store): wake
        the stage that takes it, or see whether a manifest is finished."""
        if state in TERMINAL:
            self._finish_wake.set()
            self._status_wake.set()
        elif (stage := STAGE_OF.get(state)) is not None and self.pipeline is not None:
            self.pipeline.kick(stage)

    async def _job_ended(self, _job: Job) -> None:
        self._finish_wake.set()
        self._status_wake.set()

    async def _finish_loop(self) -> None:
        while True:
            # A manifest that could not be finished (its report not written: a full disk)
            # is tried again after a while even if no job ends meanwhile.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._finish_wake.wait(), FINISH_RETRY_S)
            self._finish_wake.clear()
            try:
                await self._finish_manifests()
            except Exception as exc:
                log.error("manifest.finish_error", error=str(exc), exc_info=True)

    async def _finish_manifests(self) -> None:
        """Write the report of every manifest whose jobs have all ended and file it away;
        while the bucket cannot be used, not when the reports go to objects (they wait
        for it, as the results do, rather than fail every 10 seconds)."""
        assert self.finisher is not None
        bucket_closed = self.pipeline is not None and not self.pipeline.bucket.open
        if bucket_closed and self.finisher.results.objects_prefix is not None:
            return
        await self.finisher.finish_all()


async def check_bucket(pipeline: Pipeline) -> None:
    """Check the bucket before work starts: a missing one or refused credentials close
    it (said once) rather than fail the first uploads. Bounded: an endpoint that does not
    answer is met, and retried, by the uploads themselves."""
    try:
        await asyncio.wait_for(pipeline.bucket.check(), BUCKET_CHECK_S)
    except TimeoutError:
        log.warning(
            "storage.check_failed",
            bucket=pipeline.bucket.storage.bucket,
            error=f"no answer within {BUCKET_CHECK_S:g} s",
        )


async def installed_values(store: Store, apis: ApiCatalogue) -> dict[str, str]:
    """Each API's value made once per installation and kept in the store under its spec's
    ``install_key`` (asr_xml's uuid: 32 hex digits), by API."""
    return {
        spec.name: await store.kv_update(spec.install_key, lambda kept: kept or uuid4().hex)
        for spec in apis.values()
        if spec.install_key is not None
    }
