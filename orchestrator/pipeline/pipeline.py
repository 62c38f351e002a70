"""The pipeline: four stages (upload, submit, poll, fetch) over the store, in one loop.

Each stage takes the jobs whose ``next_action_at`` has come, does one step and records the
outcome in the store before anything else happens to the job. Nothing in memory is the
only copy of a fact: killed at any moment, a restart continues from the store. This module
wires the parts; each lives in a module of its own (see the README's map).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping

from orchestrator.core import polling
from orchestrator.core.decisions import after_unexpected
from orchestrator.core.jobs import TERMINAL, Job, Stage
from orchestrator.pipeline.bucket import BucketGate
from orchestrator.pipeline.context import Context, job_logging
from orchestrator.pipeline.fetch import Fetch
from orchestrator.pipeline.lanes import Lane, lanes, without_bucket
from orchestrator.pipeline.learning import Learning
from orchestrator.pipeline.ledger import QuotaLedger
from orchestrator.pipeline.poll import Poll
from orchestrator.pipeline.scheduler import Scheduler, Step
from orchestrator.pipeline.settings import PipelineSettings
from orchestrator.pipeline.submit import Submit, billable
from orchestrator.pipeline.transitions import Transitions
from orchestrator.pipeline.upload import Upload
from orchestrator.pipeline.work import InFlight
from orchestrator.speechkit.base import RecognitionClient
from orchestrator.storage.protocol import ObjectStorage
from orchestrator.store.protocol import Store
from orchestrator.telemetry.logs import get_logger
from orchestrator.telemetry.metrics import DaemonMetrics

log = get_logger()

MAINTAIN_EVERY_S = 60.0


def logged(step: Step) -> Step:
    """``step`` with the job's manifest and id bound to each of its log lines."""

    async def run(job: Job, entered: bool) -> None:
        with job_logging(job):
            await step(job, entered)

    return run


def new_owner(node: str) -> str:
    """A lease owner: this node, this process, this run (``node:pid:token``)."""
    return f"{node}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Pipeline:
    """Runs the four stages over the store until asked to stop."""

    def __init__(  # noqa: PLR0913 (wiring: the options are keywords with defaults)
        self,
        store: Store,
        storage: ObjectStorage,
        clients: Mapping[str, RecognitionClient],
        settings: PipelineSettings,
        *,
        metrics: DaemonMetrics | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        owner: str | None = None,
        on_job_ended: Callable[[Job], Awaitable[None]] | None = None,
    ) -> None:
        # Built in the order each part needs the one before: nothing is filled in later.
        if metrics is None:
            metrics = DaemonMetrics(quotas=settings.apis.request_quotas())
        self.work = InFlight()
        self.ctx = Context(
            store=store,
            storage=storage,
            clients=clients,
            settings=settings,
            metrics=metrics,
            ledger=QuotaLedger(store, metrics, clock),
            clock=clock,
            rng=rng if rng is not None else random.Random(),
            owner=owner or new_owner(settings.node),
            kick=self.work.kick,
        )
        self.transitions = Transitions(self.ctx, on_job_ended)
        self.learning = Learning(self.ctx, self.work)
        steps: dict[Stage, Step] = {
            Stage.UPLOAD: logged(Upload(self.ctx, self.transitions).step),
            Stage.SUBMIT: logged(Submit(self.ctx, self.transitions, self.learning).step),
            Stage.POLL: logged(Poll(self.ctx, self.transitions, self.learning).step),
            Stage.FETCH: logged(Fetch(self.ctx, self.transitions).step),
        }
        self.ctx.bucket.on_open = self.kick
        self.scheduler = Scheduler(
            self.ctx,
            self.work,
            steps,
            lanes_of=self._lanes,
            on_step_error=self._step_failed,
        )

    @property
    def settings(self) -> PipelineSettings:
        """The settings in force."""
        return self.ctx.settings

    @property
    def ledger(self) -> QuotaLedger:
        """The quota ledger (for the metrics a scrape asks for)."""
        return self.ctx.ledger

    @property
    def estimator(self) -> polling.CompletionEstimator:
        """What was learned of the service's speed."""
        return self.learning.estimator

    @property
    def bucket(self) -> BucketGate:
        """Whether the object storage bucket can be used (checked again while not)."""
        return self.ctx.bucket

    @property
    def in_flight(self) -> int:
        """Steps being worked on right now."""
        return len(self.scheduler.tasks)

    # -- life cycle ----------------------------------------------------------------------

    async def load_state(self) -> None:
        """Restore what the pipeline learned before a restart (the completion estimator)."""
        await self.learning.load()

    async def reschedule_first_polls(self) -> int:
        """Bring the first checks still to come forward to the current estimate."""
        return await self.learning.reschedule()

    def kick(self, stage: Stage | None = None) -> None:
        """Wake one stage (or all) to look for due work now."""
        self.work.kick(stage)

    def apply(self, settings: PipelineSettings) -> None:
        """Take new settings (on reload); running work finishes under the old ones."""
        self.ctx.settings = settings
        self.learning.apply_settings()

        async def reschedule() -> None:
            await self.learning.reschedule()

        self.work.track(asyncio.get_running_loop().create_task(reschedule()))
        self.kick()

    async def run(self, stop: asyncio.Event) -> None:
        """Run every stage until ``stop`` is set, then wait for the steps in flight."""
        loops = self.scheduler.loops(stop)
        loops.append(asyncio.create_task(self._maintain(stop), name="maintenance"))
        loops.append(asyncio.create_task(self.ctx.bucket.run(stop), name="bucket-checks"))
        if self.ctx.store.shared:
            loops.append(asyncio.create_task(self._follow(stop), name="follow-learning"))
        try:
            await stop.wait()
        finally:
            self.scheduler.draining = True
            self.kick()
            await asyncio.gather(*loops, return_exceptions=True)
            if self.scheduler.tasks:
                await asyncio.gather(*self.scheduler.tasks, return_exceptions=True)
            await self.ctx.media.close()

    async def abort(self) -> None:
        """Cancel the steps still in flight; the store keeps each job where it was."""
        await self.scheduler.abort()
        await self.ctx.media.close()

    # -- parts -----------------------------------------------------------------------------

    def _lanes(self, stage: Stage) -> list[Lane]:
        profiles = [client.profile for client in self.ctx.clients.values()]
        found = lanes(stage, profiles, self.ctx.settings, billable)
        if self.ctx.bucket.open:
            return found
        return without_bucket(stage, found, profiles, self.ctx.settings)

    async def _step_failed(self, stage: Stage, job: Job, exc: Exception) -> None:
        """A bug or an unexpected failure inside a step: the job is retried with backoff,
        never lost. The traceback is logged with the step's first failure only: the same
        bug met again on each retry would fill the journal with copies of it."""
        with job_logging(job):
            log.error(
                "job.step_error",
                stage=stage.value,
                error=str(exc),
                attempt=job.attempts + 1,
                exc_info=job.attempts == 0,
            )
            current = await self.ctx.store.get_job(job.id)  # the step may have moved it
            if current is not None and current.state not in TERMINAL:
                decision = after_unexpected(current, str(exc), self.ctx.circumstances())
                await self.transitions.apply(current, decision)

    async def _follow(self, stop: asyncio.Event) -> None:
        """Read back, now and then, what the other daemons sharing the store learned."""
        while not stop.is_set() and not self.scheduler.draining:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.learning.follow_every_s())
            if stop.is_set():
                return
            try:
                await self.learning.follow()
            except Exception as exc:
                log.error("learning.follow_error", error=str(exc))

    async def _maintain(self, stop: asyncio.Event) -> None:
        """Forget quota ledger entries that no window can count any more; move on the
        split jobs whose parts have ended (at the start, those a restart cut short)."""
        while not stop.is_set() and not self.scheduler.draining:
            try:
                await self.ctx.ledger.prune(self.ctx.settings.quotas)
                await self.transitions.settle_all()
            except Exception as exc:
                log.error("maintenance.error", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=MAINTAIN_EVERY_S)
