"""When the stages work and on what: claims lane by lane within each stage's slots,
wake-ups when work comes due, a heartbeat renewing the leases of the steps in flight.

Each stage takes the jobs whose ``next_action_at`` has come, starts one step per job and
looks again when the next one comes due (or sooner, when something kicks it). Nothing in
memory is the only copy of a fact: the store has every job's state and lease.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping

from orchestrator.core.jobs import IN_FLIGHT, STAGE_STATES, Job, Stage, State
from orchestrator.pipeline.context import Context
from orchestrator.pipeline.lanes import Lane
from orchestrator.pipeline.settings import PipelineSettings
from orchestrator.pipeline.transitions import let_go
from orchestrator.pipeline.work import InFlight
from orchestrator.telemetry.logs import get_logger

log = get_logger()

# How long an idle stage sleeps at most before looking at the store again (new work
# normally wakes it at once; this bounds the cost of a missed wake-up).
IDLE_S = 30.0
# A dispatch that failed (the store is locked, say) is tried again after this.
DISPATCH_RETRY_S = 5.0

# Stages that may hold only so many jobs: a limit from the settings over the jobs in states.
_CAPS: dict[Stage, tuple[Callable[[PipelineSettings], int], tuple[State, ...]]] = {
    Stage.SUBMIT: (lambda s: s.operations_in_flight, IN_FLIGHT),
    Stage.UPLOAD: (lambda s: s.uploads_ahead(), (State.UPLOADING, State.UPLOADED)),
}
# A claim of the first stage makes room in the second.
_MAKES_ROOM = {Stage.SUBMIT: Stage.UPLOAD}

Step = Callable[[Job, bool], Awaitable[None]]
"""One step of a stage for one job; the flag says the claim moved the job into its state."""
StepFailed = Callable[[Stage, Job, Exception], Awaitable[None]]


class Scheduler:
    """Runs every stage's loop over the store until asked to stop."""

    def __init__(
        self,
        ctx: Context,
        work: InFlight,
        steps: Mapping[Stage, Step],
        lanes_of: Callable[[Stage], list[Lane]],
        on_step_error: StepFailed,
    ) -> None:
        self.ctx = ctx
        self.work = work
        self.steps = steps
        self.lanes_of = lanes_of
        self.on_step_error = on_step_error
        self.draining = False
        self.working = work.working  # job ids with a step in flight in this process
        self.tasks = work.tasks
        self._wake = work.wake
        self._busy: dict[Stage, int] = dict.fromkeys(Stage, 0)
        # Quotas holding each stage's claims back, and until when (logged once per hold).
        self._held: dict[Stage, Mapping[str, float]] = {}

    def kick(self, stage: Stage | None = None) -> None:
        """Wake one stage (or all) to look for due work now."""
        self.work.kick(stage)

    def loops(self, stop: asyncio.Event) -> list[asyncio.Task[None]]:
        """Start every stage's loop and the lease heartbeat."""
        tasks = [
            asyncio.create_task(self._stage_loop(stage, stop), name=f"stage-{stage}")
            for stage in Stage
        ]
        tasks.append(asyncio.create_task(self._heartbeat(stop), name="lease-heartbeat"))
        return tasks

    def track(self, task: asyncio.Task[None]) -> None:
        """Count a background task among the work in flight (awaited when draining)."""
        self.work.track(task)

    async def abort(self) -> None:
        """Cancel the steps still in flight; the store keeps each job where it was."""
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)

    # -- the loops -----------------------------------------------------------------------

    async def _stage_loop(self, stage: Stage, stop: asyncio.Event) -> None:
        while not stop.is_set() and not self.draining:
            self._wake[stage].clear()
            try:
                wake_at = await self._dispatch(stage)
            except Exception as exc:
                # The store is the only state; a failed dispatch is retried after a pause.
                log.error("stage.error", stage=stage.value, error=str(exc), exc_info=True)
                wake_at = self.ctx.clock() + DISPATCH_RETRY_S
            timeout = max(0.0, min(wake_at - self.ctx.clock(), IDLE_S))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake[stage].wait(), timeout=timeout)

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        """Renew the leases of the steps in flight, so that a long upload keeps its job
        while a dead daemon's jobs are free within one lease."""
        while not stop.is_set():
            lease_s = self.ctx.settings.lease_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=lease_s / 3)
            if self.working:
                try:
                    until = self.ctx.clock() + lease_s
                    await self.ctx.store.renew_leases(self.ctx.owner, sorted(self.working), until)
                except Exception as exc:
                    log.error("lease.renew_failed", error=str(exc))

    # -- claims --------------------------------------------------------------------------

    def _slots(self, stage: Stage) -> int:
        settings = self.ctx.settings
        limit = {
            Stage.UPLOAD: settings.uploads,
            Stage.FETCH: settings.fetches,
            Stage.SUBMIT: settings.http_concurrency,
            Stage.POLL: settings.http_concurrency,
        }[stage]
        return max(0, limit - self._busy[stage])

    async def _room(self, stage: Stage) -> int:
        """How many more jobs a capped stage may take: operations in flight at the service
        for submissions, jobs waiting uploaded for uploads. Jobs in the stage's own states
        are counted by this process's steps in flight, not by the store: a crash can leave
        a cap's worth of them there without a step (say uploading), and counting those
        would keep the stage from ever taking them up again. Another daemon's steps in
        flight are not counted, so the cap may be passed by that many."""
        cap = _CAPS.get(stage)
        if cap is None:
            return self._slots(stage)
        limit_of, capped = cap
        states = [state for state in capped if state not in STAGE_STATES[stage]]
        taken = await self.ctx.store.count(states)
        return max(0, limit_of(self.ctx.settings) - taken - self._busy[stage])

    async def _dispatch(self, stage: Stage) -> float:
        """Start the stage's due steps, lane by lane; return when it should look again."""
        ctx = self.ctx
        now = ctx.clock()
        slots = min(self._slots(stage), await self._room(stage))
        wake_at = now + IDLE_S
        held: dict[str, float] = {}
        for lane in self.lanes_of(stage):
            claim = lane.claim(slots, ctx.settings.lease_s, ctx.clock)
            claimed = await ctx.store.claim(claim, ctx.owner, now)
            slots -= len(claimed.jobs)
            for name, (used, left) in claimed.usage.items():
                ctx.metrics.set_quota(name, used, left)
            held.update(claimed.held)
            if claimed.jobs and stage in _MAKES_ROOM:
                self.kick(_MAKES_ROOM[stage])
            for job in claimed.jobs:
                if job.id in self.working:
                    # Its step is finishing (the store already has its outcome): let the
                    # lease go, or the job would wait for the lease to run out.
                    await let_go(ctx.store, job.id, now)
                else:
                    self._start(stage, job, entered=job.id in claimed.entered)
            due = await ctx.store.next_due(STAGE_STATES[stage], now, lane.apis, lane.affinity)
            lane_wake = now + IDLE_S if due is None else due
            if claimed.wake_at is not None:
                lane_wake = max(lane_wake, claimed.wake_at)
            wake_at = min(wake_at, lane_wake)
        self._report_held(stage, held, now)
        if slots <= 0:
            # Every slot is taken: due work waits for a step to end (which wakes the stage),
            # not for its due time, which has come already.
            return now + IDLE_S
        return wake_at

    def _report_held(self, stage: Stage, held: Mapping[str, float], now: float) -> None:
        """Log each quota that starts holding the stage's claims back (once, until it lets
        them through again). The daily audio quota is worth a warning; a full request quota
        is the normal state of a backlog."""
        before = self._held.get(stage, {})
        declared = self.ctx.settings.apis.quotas()
        for name, until in held.items():
            if name not in before:
                daily = name in declared and declared[name].amount
                (log.warning if daily else log.info)(
                    "quota.paused" if daily else "quota.full",
                    quota=name,
                    until=until,
                    paused_for_s=round(until - now, 3),
                )
        self._held[stage] = held

    def _start(self, stage: Stage, job: Job, *, entered: bool) -> None:
        step = self.steps[stage]
        self.working.add(job.id)
        self._busy[stage] += 1

        async def run() -> None:
            try:
                await step(job, entered)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self.on_step_error(stage, job, exc)
            finally:
                self.working.discard(job.id)
                self._busy[stage] -= 1
                self._wake[stage].set()

        self.track(asyncio.create_task(run(), name=f"{stage}-{job.id}"))
