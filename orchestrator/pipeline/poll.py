"""Checking on operations: one status check when the job is probably done, then more at
growing intervals; a finished operation teaches the estimator how long the service takes."""

from __future__ import annotations

import dataclasses

from orchestrator.core.decisions import Decision, after_failure, after_operation_error
from orchestrator.core.jobs import Job, Stage, State
from orchestrator.pipeline.context import Context
from orchestrator.pipeline.learning import Learning
from orchestrator.pipeline.transitions import Transitions, check_counted, still_running
from orchestrator.speechkit.base import OperationStatus, RecognitionClient
from orchestrator.speechkit.errors import SpeechKitError


class Poll:
    """One status check per step."""

    def __init__(self, ctx: Context, transitions: Transitions, learning: Learning) -> None:
        self.ctx = ctx
        self.transitions = transitions
        self.learning = learning

    async def step(self, job: Job, _entered: bool) -> None:
        """Check one running operation (the claim spent the status quota)."""
        began = self.ctx.clock()
        client = self.ctx.client(job)
        if client is None or job.operation_id is None:
            await self.transitions.fail(job, "running without an operation id or a client", began)
            return
        profile = client.profile
        endpoint = profile.status_endpoint or "operations"
        try:
            status = await client.get_operation(job.operation_id)
            self.ctx.metrics.record_request(endpoint, 200)
        except SpeechKitError as exc:
            self.ctx.metrics.record_request(endpoint, exc.http_status or "error")
            decision = after_failure(
                Stage.POLL,
                exc.failure(),
                job,
                self.ctx.circumstances(),
                quota=profile.status_quota,
                not_found=profile.status_not_found,
            )
            await self.transitions.apply(job, decision, began, ids=exc.ids())
            return
        now = self.ctx.clock()
        polls = job.polls + 1
        if not status.done:
            when = self.learning.next_check_at(job, now, polls)
            await still_running(self.ctx.store, job.id, polls, now, when)
            return
        await self._finished(job, client, status, polls, now, began)

    async def _finished(
        self,
        job: Job,
        client: RecognitionClient,
        status: OperationStatus,
        polls: int,
        now: float,
        began: float,
    ) -> None:
        submitted = job.submitted_at or now
        processing = status.processing_s()
        await self.learning.observe(job, processing, now)
        # Lag: from the service finishing (its own timestamps) to this check seeing it; without
        # them, from the last "not done" check, an upper bound.
        finished_at = submitted + processing if processing is not None else job.last_poll_at
        metrics = self.ctx.metrics
        metrics.status_check_lag.observe(max(0.0, now - (finished_at or submitted)))
        metrics.polls_per_job.observe(polls)
        failed = status.failure()
        if failed is not None:
            await check_counted(self.ctx.store, job.id, polls, now)
            decision: Decision = after_operation_error(
                failed.grpc_code, failed.message, job, self.ctx.circumstances()
            )
            await self.transitions.apply(
                dataclasses.replace(job, polls=polls, last_poll_at=now),
                decision,
                began,
                ids=failed.ids(),
            )
            return
        try:
            transcript = client.result_of(status)
        except SpeechKitError as exc:
            # Done, but with nothing this client can read as a result.
            await check_counted(self.ctx.store, job.id, polls, now)
            decision = after_failure(Stage.FETCH, exc.failure(), job, self.ctx.circumstances())
            await self.transitions.apply(
                dataclasses.replace(job, polls=polls, last_poll_at=now),
                decision,
                began,
                ids=exc.ids(),
            )
            return
        if transcript is not None and job.content_hash is not None:
            await self.ctx.results.put(
                job.content_hash, job.settings_key, job.operation_id or "", transcript, now
            )
        await self.transitions.move(job, State.FETCHING, began, polls=polls, last_poll_at=now)
