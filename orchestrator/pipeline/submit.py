"""Submitting: the claim moved the job to ``submitting`` and spent the quota; send it.

An asynchronous API answers with an operation to check on. A synchronous one answers with
the transcript itself: it is kept in the result cache and the job goes straight to
``fetching``, with nothing to poll.
"""

from __future__ import annotations

from orchestrator.core.billing import billable_seconds
from orchestrator.core.decisions import (
    Circumstances,
    Decision,
    after_failure,
    after_operation_error,
)
from orchestrator.core.failures import ReasonClass
from orchestrator.core.jobs import Job, Stage, State
from orchestrator.pipeline.context import Context
from orchestrator.pipeline.learning import Learning
from orchestrator.pipeline.requests import local_audio, object_ref, submit_request
from orchestrator.pipeline.transitions import Transitions
from orchestrator.speechkit.base import RecognitionClient, SubmitRequest, Submitted
from orchestrator.speechkit.errors import RecognitionFailed, SpeechKitError
from orchestrator.telemetry.logs import get_logger

log = get_logger()


def billable(job: Job) -> float:
    """The job's billable audio seconds for the daily quota; 0 when its duration is
    unknown (an object already in storage): not counted."""
    facts = job.audio
    if facts is None or facts.duration_s <= 0:
        return 0.0
    return billable_seconds(facts.duration_s, facts.channels)


def after_submit_error(
    exc: SpeechKitError, job: Job, now: Circumstances, quota: str | None
) -> Decision:
    """What follows a failed submission: a synchronous API's recognition that failed is
    an operation's error; anything else, the request's."""
    if isinstance(exc, RecognitionFailed):
        return after_operation_error(exc.grpc_code, exc.message, job, now)
    return after_failure(Stage.SUBMIT, exc.failure(), job, now, quota=quota)


class Submit:
    """One submission per job, at least once."""

    def __init__(self, ctx: Context, transitions: Transitions, learning: Learning) -> None:
        self.ctx = ctx
        self.transitions = transitions
        self.learning = learning

    async def step(self, job: Job, entered: bool) -> None:
        """Send the submission of a job the claim moved to ``submitting`` (``entered``) or
        found there after a restart."""
        began = self.ctx.clock()
        client = self.ctx.client(job)
        if client is None:
            await self.transitions.fail(job, f"api {job.settings.api!r} is not handled", began)
            return
        if not await self._may_send(job, client, entered, began):
            return
        profile = client.profile
        try:
            submitted = await client.submit(self._request(job, client))
            self.ctx.metrics.record_request(profile.submit_endpoint, 200)
        except SpeechKitError as exc:
            self.ctx.metrics.record_request(profile.submit_endpoint, exc.http_status or "error")
            decision = after_submit_error(exc, job, self.ctx.circumstances(), profile.submit_quota)
            await self.transitions.apply(job, decision, began, ids=exc.ids())
            return
        if submitted.transcript is not None:
            await self._recognised(job, submitted, began)
            return
        now = self.ctx.clock()
        await self.transitions.move(
            job,
            State.RUNNING,
            began,
            operation_id=submitted.operation_id,
            submitted_at=now,
            polls=0,
            last_poll_at=None,
            next_action_at=self.learning.first_check_at(job, now),
        )

    async def _may_send(
        self, job: Job, client: RecognitionClient, entered: bool, began: float
    ) -> bool:
        """Log how the job came to be sent; False when it failed instead (its audio alone
        is more than the whole daily quota)."""
        if not entered:
            log.warning(
                "job.resubmitting",
                reason="found in `submitting` after a restart: the earlier submission may "
                "have reached the service (at-least-once)",
            )
            return True
        self.transitions.log_transition(job, State.UPLOADED, State.SUBMITTING, began)
        daily = client.profile.audio_quota
        spec = None if daily is None else self.ctx.settings.quota(daily)
        amount = 0.0 if spec is None else billable(job)
        if spec is not None and amount > spec.effective_limit:
            await self.transitions.fail(
                job,
                f"{amount:.0f} billable audio seconds exceed the whole daily audio quota "
                f"({spec.effective_limit} s): raise quotas.audio_hours_per_day",
                reason_class=ReasonClass.QUOTA,
            )
            return False
        return True

    def _request(self, job: Job, client: RecognitionClient) -> SubmitRequest:
        if not client.profile.uploads:
            return submit_request(job, None, local_audio(job, self.ctx.settings.conversions_dir))
        uri = object_ref(job, self.ctx.storage.bucket).link(self.ctx.storage.public_url_base)
        return submit_request(job, uri)

    async def _recognised(self, job: Job, submitted: Submitted, began: float) -> None:
        """A synchronous answer: keep the transcript, then write it (no polling)."""
        assert submitted.transcript is not None
        now = self.ctx.clock()
        if job.content_hash is not None:
            await self.ctx.results.put(
                job.content_hash,
                job.settings_key,
                submitted.operation_id,
                submitted.transcript,
                now,
            )
        await self.transitions.move(
            job,
            State.FETCHING,
            began,
            operation_id=submitted.operation_id,
            submitted_at=now,
            polls=0,
            last_poll_at=None,
        )
