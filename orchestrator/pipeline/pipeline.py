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
from orchestrator.pipeline.context import Context
from orchestrator.pipeline.fetch import Fetch
from orchestrator.pipeline.lanes import Lane, lanes
from orchestrator.pipeline.learning import Learning
from orchestrator.pipeline.ledger import QuotaLedger
from orchestrator.pipeline.poll import Poll
from orchestrator.pipeline.scheduler import Scheduler
from orchestrator.pipeline.settings import PipelineSettings
from orchestrator.pipeline.submit import Submit, billable
from orchestrator.pipeline.transitions import Transitions
from orchestrator.pipeline.upload import Upload
from orchestrator.speechkit.base import RecognitionClient
from orchestrator.storage.s3 import ObjectStorage
from orchestrator.store.protocol import Store
from orchestrator.telemetry.logs import get_logger
from orchestrator.telemetry.metrics import DaemonMetrics

log = get_logger()

MAINTAIN_EVERY_S = 60.0


def new_owner(node: str) -> str:
    """A lease owner: this node, this process, this run (``node:pid:token``)."""
    return f"{node}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Pipeline:
    """Runs the four stages over the store until asked to stop."""

    def __init__(
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
        if metrics is None:
            metrics = DaemonMetrics(quotas=settings.apis.request_quotas())
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
            kick=self.kick,
        )
        self.transitions = Transitions(self.ctx, on_job_ended)
        self.scheduler = Scheduler(
            self.ctx,
            steps={},  # filled below: the stages need the scheduler's working set
            lanes_of=self._lanes,
            on_step_error=self._step_failed,
        )
        self.learning = Learning(self.ctx, self.scheduler.working, self.scheduler.track)
        self.scheduler.steps = {
            Stage.UPLOAD: Upload(self.ctx, self.transitions).step,
            Stage.SUBMIT: Submit(self.ctx, self.transitions, self.learning).step,
            Stage.POLL: Poll(self.ctx, self.transitions, self.learning).step,
            Stage.FETCH: Fetch(self.ctx, self.transitions).step,
        }

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
        self.scheduler.kick(stage)

    def apply(self, settings: PipelineSettings) -> None:
        """Take new settings (on reload); running work finishes under the old ones."""
        self.ctx.settings = settings
        self.learning.apply_settings()

        async def reschedule() -> None:
            await self.learning.reschedule()

        self.scheduler.track(asyncio.get_running_loop().create_task(reschedule()))
        self.kick()

    async def run(self, stop: asyncio.Event) -> None:
        """Run every stage until ``stop`` is set, then wait for the steps in flight."""
        loops = self.scheduler.loops(stop)
        loops.append(asyncio.create_task(self._maintain(stop), name="maintenance"))
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

    async def abort(self) -> None:
        """Cancel the steps still in flight; the store keeps each job where it was."""
        await self.scheduler.abort()

    # -- parts -----------------------------------------------------------------------------

    def _lanes(self, stage: Stage) -> list[Lane]:
        profiles = [client.profile for client in self.ctx.clients.values()]
        return lanes(stage, profiles, self.ctx.settings, billable)

    async def _step_failed(self, stage: Stage, job: Job, exc: Exception) -> None:
        """A bug or an unexpected failure inside a step: the job is retried with backoff,
        never lost. The traceback is logged with the step's first failure only: the same
        bug met again on each retry would fill the journal with copies of it."""
        log.error(
            "job.step_error",
            stage=stage.value,
            manifest=job.manifest_name,
            job_id=job.id,
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
        """Forget quota ledger entries that no window can count any more."""
        while not stop.is_set() and not self.scheduler.draining:
            try:
                await self.ctx.ledger.prune(self.ctx.settings.quotas)
            except Exception as exc:
                log.error("maintenance.error", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=MAINTAIN_EVERY_S)
