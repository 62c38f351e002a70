"""Submitting: the claim moved the job to ``submitting`` and spent the quota; send it."""

from __future__ import annotations

from orchestrator.core.billing import billable_seconds
from orchestrator.core.decisions import after_failure
from orchestrator.core.failures import ReasonClass
from orchestrator.core.jobs import Job, Stage, State
from orchestrator.core.quota import AUDIO_QUOTA
from orchestrator.pipeline.context import Context
from orchestrator.pipeline.learning import Learning
from orchestrator.pipeline.requests import object_ref, submit_request
from orchestrator.pipeline.transitions import Transitions
from orchestrator.speechkit.errors import SpeechKitError
from orchestrator.telemetry.logs import get_logger

log = get_logger()


def billable(job: Job) -> float:
    """The job's billable audio seconds for the daily quota; 0 when its duration is
    unknown (an object already in storage): not counted."""
    facts = job.audio
    if facts is None or facts.duration_s <= 0:
        return 0.0
    return billable_seconds(facts.duration_s, facts.channels)


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
        if not entered:
            log.warning(
                "job.resubmitting",
                manifest=job.manifest_name,
                job_id=job.id,
                reason="found in `submitting` after a restart: the earlier submission may "
                "have reached the service (at-least-once)",
            )
        else:
            self.transitions.log_transition(job, State.UPLOADED, State.SUBMITTING, began)
            spec = self.ctx.settings.quota(AUDIO_QUOTA)
            amount = billable(job)
            if amount > spec.effective_limit:
                await self.transitions.fail(
                    job,
                    f"{amount:.0f} billable audio seconds exceed the whole daily audio quota "
                    f"({spec.effective_limit} s): raise quotas.audio_hours_per_day",
                    reason_class=ReasonClass.QUOTA,
                )
                return
        profile = client.profile
        try:
            async with self.ctx.http:
                uri = object_ref(job, self.ctx.storage.bucket).link(
                    self.ctx.storage.public_url_base
                )
                submitted = await client.submit(submit_request(job, uri))
            self.ctx.metrics.record_request(profile.submit_endpoint, 200)
        except SpeechKitError as exc:
            self.ctx.metrics.record_request(profile.submit_endpoint, exc.http_status or "error")
            decision = after_failure(
                Stage.SUBMIT,
                exc.failure(),
                job,
                self.ctx.circumstances(),
                quota=profile.submit_quota,
            )
            await self.transitions.apply(job, decision, began)
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
