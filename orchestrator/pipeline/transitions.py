"""The one writer of job state: every transition is one row update, logged, and what
follows a decision (retry, fail, pause a quota, recognise again) is carried out here.
The few writes that change no state (a check counted, a check brought forward, a lease let
go) are functions here too, so that no other module writes a job."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Unpack

from orchestrator.core.decisions import (
    AskLater,
    Decision,
    Fail,
    Recognise,
    Resubmit,
    Retry,
    Throttle,
)
from orchestrator.core.failures import ReasonClass
from orchestrator.core.jobs import (
    DOING,
    IN_FLIGHT,
    STAGE_OF,
    TERMINAL,
    Job,
    Stage,
    State,
    check_transition,
)
from orchestrator.core.parts import Part
from orchestrator.pipeline.context import Context
from orchestrator.store.protocol import JobStore
from orchestrator.store.types import JobUpdate
from orchestrator.telemetry.logs import get_logger

log = get_logger()


async def still_running(
    store: JobStore, job_id: int, polls: int, now: float, next_check_at: float
) -> bool:
    """A check found the operation still running: count the check, set the next one and
    let the job go; False when it was no longer running."""
    fields: JobUpdate = {
        "polls": polls,
        "last_poll_at": now,
        "next_action_at": next_check_at,
        "attempts": 0,
    }
    return await store.update_job(job_id, State.RUNNING, fields, now)


async def check_counted(store: JobStore, job_id: int, polls: int, now: float) -> bool:
    """A check found the operation ended: count the check and keep the lease (the step goes
    on to the transition that follows); False when it was no longer running."""
    fields: JobUpdate = {"polls": polls, "last_poll_at": now}
    return await store.update_job(job_id, State.RUNNING, fields, now, keep_lease=True)


async def bring_forward(store: JobStore, job_id: int, when: float, now: float) -> bool:
    """Move a running job's next check to ``when`` (nothing else changes); False when it
    was no longer running."""
    return await store.update_job(job_id, State.RUNNING, {"next_action_at": when}, now)


async def let_go(store: JobStore, job_id: int, now: float) -> bool:
    """Release the lease of a claimed job without changing it (its step is ending already
    and the store holds its outcome)."""
    return await store.update_job(job_id, None, {}, now)


class Transitions:
    """Moves jobs between states in the store, and tells whoever must know."""

    def __init__(self, ctx: Context, on_job_ended: Callable[[Job], Awaitable[None]] | None) -> None:
        self.ctx = ctx
        self.on_job_ended = on_job_ended

    async def move(
        self, job: Job, new: State, began: float | None = None, **fields: Unpack[JobUpdate]
    ) -> Job | None:
        """Record one transition in one row update and log it.

        Returns the job as it now is, or None when it had moved on (cancelled, say).
        """
        return await self._move(job, new, began, ReasonClass.PERMANENT, fields, {})

    async def fail(
        self,
        job: Job,
        reason: str,
        began: float | None = None,
        *,
        reason_class: ReasonClass = ReasonClass.PERMANENT,
        ids: Mapping[str, str] | None = None,
    ) -> None:
        """End the job as failed with ``reason``; ``ids`` are the request ids of the
        failure (``client_request_id``, ``request_id``), logged with it."""
        fields: JobUpdate = {"error": reason}
        await self._move(job, State.FAILED, began, reason_class, fields, ids or {})

    async def split(
        self, job: Job, parts: Sequence[Part], began: float, **fields: Unpack[JobUpdate]
    ) -> None:
        """Cut ``job`` into part jobs (queued, each recognised as a job of its own) and move
        it to wait for them, with ``fields``, in one transaction; a part it has already is
        kept (a restart midway splits it again to the same parts)."""
        check_transition(job.state, State.SPLIT)
        now = self.ctx.clock()
        update: JobUpdate = {"next_action_at": now, "attempts": 0, **fields, "state": State.SPLIT}
        if not await self.ctx.store.add_parts(job, parts, now, update):
            log.info("job.superseded", state=job.state.value)
            return
        self.log_transition(job, job.state, State.SPLIT, began, now=now)
        log.info("job.split", source=job.source, parts=len(parts))
        self.ctx.kick(Stage.UPLOAD)
        # Split again after a retry, every part may be done already.
        await self.settle(job.id)

    async def settle(self, parent_id: int) -> None:
        """Move a split job on once its parts allow: to be stitched when every part is
        done, failed (its other parts cancelled) when one of them failed; else nothing."""
        store = self.ctx.store
        parent = await store.get_job(parent_id)
        if parent is None or parent.state is not State.SPLIT:
            return
        parts = await store.parts_of(parent_id)
        ended = [p for p in parts if p.state in (State.FAILED, State.CANCELLED)]
        if ended:
            await self._fail_split(parent, ended[0])
        elif parts and all(p.state is State.DONE for p in parts):
            await self.move(parent, State.FETCHING)

    async def settle_all(self) -> int:
        """Settle every split job (after a restart, a part may have ended without its
        parent learning it); how many there were."""
        waiting = await self.ctx.store.jobs_in([State.SPLIT])
        for parent in waiting:
            await self.settle(parent.id)
        return len(waiting)

    async def _fail_split(self, parent: Job, part: Job) -> None:
        """One part failed: so does the whole job, and its other parts stop (no quota is
        spent on a job that cannot finish)."""
        label = part.part.label if part.part else f"part job {part.id}"
        reason = f"{label}: {part.error or part.state.value}"
        cancelled = await self.ctx.store.cancel_parts_of(
            parent.id, f"cancelled: {label} failed", self.ctx.clock()
        )
        if cancelled:
            log.info("job.parts_cancelled", source=parent.source, parts=cancelled)
        await self.fail(parent, reason)

    async def apply(
        self,
        job: Job,
        decision: Decision,
        began: float | None = None,
        *,
        ids: Mapping[str, str] | None = None,
    ) -> None:
        """Carry out what a decision says of ``job``. ``ids`` are the request ids of the
        failure that led to it: every failure event carries them, for support tickets."""
        ids = ids or {}
        match decision:
            case Fail(reason, reason_class):
                await self.fail(job, reason, began, reason_class=reason_class, ids=ids)
            case Retry(back_to, at, attempts, reason):
                await self._retry(job, back_to, at, attempts, reason, ids)
            case Throttle():
                await self._throttle(job, decision, ids)
            case Recognise(reason):
                await self._recognise(job, reason, began, ids)
            case Resubmit():
                await self._resubmit(job, decision, ids)
            case AskLater(back_to, at, attempts):
                check_transition(job.state, back_to)
                await self.ctx.store.update_job(
                    job.id,
                    job.state,
                    {"state": back_to, "next_action_at": at, "attempts": attempts},
                    self.ctx.clock(),
                )

    def log_transition(
        self,
        job: Job,
        old: State,
        new: State,
        began: float,
        *,
        operation_id: str | None = None,
        now: float | None = None,
    ) -> None:
        """The ``job.state`` event of one transition."""
        log.info(
            "job.state",
            operation_id=operation_id or job.operation_id,
            source=job.source,
            **{"from": old.value, "to": new.value},
            took_s=round((self.ctx.clock() if now is None else now) - began, 3),
        )

    async def _move(
        self,
        job: Job,
        new: State,
        began: float | None,
        reason_class: ReasonClass,
        fields: JobUpdate,
        ids: Mapping[str, str],
    ) -> Job | None:
        check_transition(job.state, new)
        now = self.ctx.clock()
        fields.setdefault("next_action_at", now)
        if new in TERMINAL:
            fields.setdefault("finished_at", now)
        # A step that succeeded starts the next one with no failed attempts; entering the
        # "doing" state of a step keeps the count, or a step failing over and over would
        # never be given up.
        if new != job.state and new not in DOING:
            fields.setdefault("attempts", 0)
        # Entering a "doing" state, the step goes on: keep the lease so no stage takes it again.
        update: JobUpdate = {"state": new, **fields}
        applied = await self.ctx.store.update_job(
            job.id, job.state, update, now, keep_lease=new in DOING
        )
        if not applied:
            log.info("job.superseded", state=job.state.value)
            return None
        if new != job.state:
            self.log_transition(
                job,
                job.state,
                new,
                began if began is not None else job.updated_at,
                operation_id=fields.get("operation_id", job.operation_id),
                now=now,
            )
        stage = STAGE_OF.get(new)
        if stage is not None and new not in DOING:
            self.ctx.kick(stage)
        if job.state in IN_FLIGHT and new not in IN_FLIGHT:
            # One operation fewer in flight: room for a submission held back by the cap.
            self.ctx.kick(Stage.SUBMIT)
        if new in TERMINAL:
            await self._ended(job, new, fields, reason_class, ids)
        return dataclasses.replace(job, updated_at=now, **update)

    async def _ended(
        self,
        job: Job,
        state: State,
        fields: JobUpdate,
        reason_class: ReasonClass,
        ids: Mapping[str, str],
    ) -> None:
        store, now = self.ctx.store, self.ctx.clock()
        if state is State.FAILED:
            log.warning(
                "job.failed",
                operation_id=job.operation_id,
                source=job.source,
                reason=fields.get("error"),
                reason_class=str(reason_class),
                retryable=reason_class.retryable,
                attempts=job.attempts + 1,
                **ids,
            )
            self.ctx.metrics.jobs_failed.inc(reason=str(reason_class))
            # Jobs waiting on this one try again themselves.
            await store.release_followers(job.id, State.QUEUED, now)
            self.ctx.kick(Stage.UPLOAD)
        elif state is State.DONE:
            self.ctx.metrics.jobs_done.inc()
            if await store.release_followers(job.id, State.FETCHING, now):
                self.ctx.kick(Stage.FETCH)
        if self.on_job_ended is not None:
            await self.on_job_ended(job)
        if job.parent_id is not None:
            # A part's end may end the whole job (every part done, or this one failed).
            await self.settle(job.parent_id)

    async def _retry(
        self,
        job: Job,
        back_to: State,
        at: float,
        attempts: int,
        reason: str,
        ids: Mapping[str, str],
    ) -> None:
        now = self.ctx.clock()
        log.warning(
            "job.retry",
            operation_id=job.operation_id,
            attempt=attempts,
            retry_in_s=round(at - now, 3),
            reason=reason,
            **ids,
        )
        check_transition(job.state, back_to)
        await self.ctx.store.update_job(
            job.id,
            job.state,
            {"state": back_to, "attempts": attempts, "next_action_at": at, "error": reason},
            now,
        )

    async def _throttle(self, job: Job, decision: Throttle, ids: Mapping[str, str]) -> None:
        """A 429: pause the whole quota (longer with each 429 in a row when the service
        says not how long), put the job back without spending an attempt."""
        settings = self.ctx.settings
        pause = await self.ctx.ledger.pause(
            decision.quota,
            decision.retry_after,
            base_s=settings.retry.base_delay_s,
            max_s=settings.retry.max_delay_s,
            memory_s=settings.quota(decision.quota).window_s,
        )
        now = self.ctx.clock()
        log.warning(
            "quota.throttled",
            quota=decision.quota,
            retry_after_s=decision.retry_after,
            strikes=pause.strikes,
            **ids,
        )
        log.warning(
            "quota.paused",
            quota=decision.quota,
            until=pause.until,
            paused_for_s=round(pause.until - now, 3),
            strikes=pause.strikes,
        )
        await self.ctx.store.update_job(
            job.id, job.state, {"state": decision.back_to, "next_action_at": pause.until}, now
        )

    async def _recognise(
        self, job: Job, reason: str, began: float | None, ids: Mapping[str, str]
    ) -> None:
        """The results are gone (kept 3 days): recognise again from the stored object."""
        self.ctx.metrics.operations_expired.inc()
        log.warning(
            "operation.expired",
            operation_id=job.operation_id,
            reason=reason,
            **ids,
        )
        await self.move(job, State.UPLOADED, began, operation_id=None)

    async def _resubmit(self, job: Job, decision: Resubmit, ids: Mapping[str, str]) -> None:
        """The service failed the recognition for its own reasons (not billed): submit
        the audio again after a backoff."""
        now = self.ctx.clock()
        log.warning(
            "job.resubmit",
            operation_id=job.operation_id,
            submissions=decision.submissions,
            retry_in_s=round(decision.at - now, 3),
            reason=decision.reason,
            **ids,
        )
        check_transition(job.state, State.UPLOADED)
        await self.ctx.store.update_job(
            job.id,
            job.state,
            {
                "state": State.UPLOADED,
                "operation_id": None,
                "next_action_at": decision.at,
                "error": decision.reason,
            },
            now,
        )
        if job.state in IN_FLIGHT:
            self.ctx.kick(Stage.SUBMIT)
