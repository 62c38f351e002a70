"""How long a batch takes to finish under the quotas (pure): the one formula that ``plan``
gives before a run and that ``submit --wait`` / ``status --watch`` give during one.

A lower bound, with each quota's safety margin taken off as the daemon takes it; uploads are
assumed faster than the quotas. Each API's jobs count against the quotas that API spends:

    submit    = wait(v2 + v3 jobs to submit, submissions)               # shared by v2 and v3
    status    = wait(1.5 x v2 jobs, status checks)                      # ~1-2 checks per job
    status_v3 = wait(2.5 x v3 jobs, v3 checks)                          # checks + getRecognition
    daily     = wait(billable hours, audio hours per day)
    longest   = max over the v2 and v3 jobs to submit of audio seconds (all channels) x r
    running   = max over the jobs already submitted of the processing time they have left
    asr_xml   = max(wait(asr_xml jobs, asr_xml requests),
                    sum of asr_xml audio seconds x r / concurrency)
    finish    = max(max(submit, status, status_v3, daily) + longest, running, asr_xml)

where ``wait(n, quota)`` is 0 when the ``n`` requests fit in what the quota has left now,
else one window for each further window's worth: ``ceil((n - left) / limit) x window``.
Before a run (``plan``) a quota has its whole window left, which makes it
``(ceil(n / limit) - 1) x window``: the last batch starts at the beginning of its window.
``r`` is the processing time per audio second: 10 s per audio minute in ``plan``; during a
run, the quantile the daemon learned per API and model. Deferred models may take up to
24 h more. asr_xml is synchronous: its requests wait for their answers, so its concurrency
bounds it too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from orchestrator.core.apis import facts_of
from orchestrator.core.billing import billable_seconds
from orchestrator.core.jobs import TERMINAL, Job, State

STATUS_CHECKS_PER_JOB = 1.5
# A v3 job's checks of its operation, and the one request for its results.
V3_CHECKS_PER_JOB = STATUS_CHECKS_PER_JOB + 1
DAY_S = 86400.0


@dataclass(frozen=True)
class Window:
    """A quota as the finish time sees it: ``limit`` per ``window_s``, of which ``left``
    may still be spent now (None: the whole window, nothing spent yet)."""

    limit: float
    window_s: float
    left: float | None = None

    def wait(self, count: float) -> float:
        """Seconds before the last of ``count`` requests may be sent."""
        if count <= 0:
            return 0.0
        left = self.limit if self.left is None else max(0.0, self.left)
        if count <= left:
            return 0.0
        return math.ceil((count - left) / self.limit) * self.window_s


@dataclass(frozen=True)
class Quotas:
    """The quotas a batch's jobs draw on."""

    submit: Window
    status: Window
    status_v3: Window
    audio_hours: Window  # billable hours per day
    asr_xml: Window
    asr_xml_concurrency: int = 10


@dataclass(frozen=True)
class Work:
    """What is left to do."""

    v2_jobs: int = 0  # v2 jobs still to submit
    v3_jobs: int = 0  # v3 jobs still to submit
    v2_checking: int = 0  # v2 jobs submitted and not yet done (their checks to come)
    v3_checking: int = 0
    billable_hours: float = 0.0  # of the jobs still to submit
    longest_processing_s: float = 0.0  # the longest processing among the jobs to submit
    running_left_s: float = 0.0  # the longest processing time left of the submitted jobs
    asr_xml_jobs: int = 0
    asr_xml_processing_s: float = 0.0  # the sum over the asr_xml jobs


@dataclass(frozen=True)
class FinishTime:
    """The time to finish and what makes it up, in seconds."""

    submit_wait_s: float
    status_wait_s: float
    v3_status_wait_s: float
    daily_wait_s: float
    longest_processing_s: float
    asr_xml_wait_s: float
    finish_s: float


def finish_time(work: Work, quotas: Quotas) -> FinishTime:
    """The time to finish ``work`` under ``quotas`` (see the module docstring)."""
    submitting = work.v2_jobs + work.v3_jobs
    submit = quotas.submit.wait(submitting)
    status = quotas.status.wait(
        math.ceil(STATUS_CHECKS_PER_JOB * (work.v2_jobs + work.v2_checking))
    )
    v3_status = quotas.status_v3.wait(
        math.ceil(V3_CHECKS_PER_JOB * (work.v3_jobs + work.v3_checking))
    )
    daily = quotas.audio_hours.wait(work.billable_hours)
    asr_xml = max(
        quotas.asr_xml.wait(work.asr_xml_jobs),
        work.asr_xml_processing_s / max(1, quotas.asr_xml_concurrency),
    )
    asynchronous = (
        max(submit, status, v3_status, daily) + work.longest_processing_s if submitting else 0.0
    )
    if not submitting and (work.v2_checking or work.v3_checking):
        # Only checks are left: they wait for their quota as much as for the service.
        asynchronous = max(status, v3_status)
    return FinishTime(
        submit_wait_s=submit,
        status_wait_s=status,
        v3_status_wait_s=v3_status,
        daily_wait_s=daily,
        longest_processing_s=work.longest_processing_s,
        asr_xml_wait_s=asr_xml,
        finish_s=max(asynchronous, work.running_left_s, asr_xml),
    )


# A job in one of these states still needs its submission (a waiting job follows the job
# that recognises the same audio, and needs none).
TO_SUBMIT = frozenset({State.QUEUED, State.UPLOADING, State.UPLOADED, State.SUBMITTING})


def work_of(
    jobs: Iterable[Job], ratio: Callable[[str, str], float], now: float, ahead: int = 0
) -> Work:
    """What is left of ``jobs`` at ``now``: ``ratio(api, model)`` is the processing time
    per audio second (all channels) learned for each; ``ahead`` counts the submissions
    other manifests' jobs, due earlier, will spend first."""
    v2 = v3 = v2_checking = v3_checking = asr_xml = 0
    billable = longest = running_left = asr_xml_s = 0.0
    for job in jobs:
        if job.state in TERMINAL or job.state is State.WAITING:
            continue
        api, audio = job.settings.api, job.audio
        r = ratio(api, job.settings.model)
        if not facts_of(api).asynchronous:
            asr_xml += 1
            asr_xml_s += (audio.duration_s if audio else 0.0) * r
            continue
        audio_s = audio.audio_seconds_all_channels if audio else 0.0
        if job.state in TO_SUBMIT:
            v2 += api == "v2"
            v3 += api == "v3"
            if audio is not None and audio.duration_s > 0:
                billable += billable_seconds(audio.duration_s, audio.channels)
            longest = max(longest, audio_s * r)
        elif job.state is State.RUNNING:
            v2_checking += api == "v2"
            v3_checking += api == "v3"
            started = job.submitted_at if job.submitted_at is not None else now
            running_left = max(running_left, started + audio_s * r - now)
    return Work(
        v2_jobs=v2 + ahead,
        v3_jobs=v3,
        v2_checking=v2_checking,
        v3_checking=v3_checking,
        billable_hours=billable / 3600.0,
        longest_processing_s=longest,
        running_left_s=running_left,
        asr_xml_jobs=asr_xml,
        asr_xml_processing_s=asr_xml_s,
    )


def throughput(finished_at: Iterable[float | None], since: float, now: float) -> float | None:
    """Jobs ended per minute between ``since`` and ``now`` (None when that is too short to
    say: under ten seconds)."""
    span = now - since
    if span < 10.0:
        return None
    ended = sum(1 for at in finished_at if at is not None and since <= at <= now)
    return ended * 60.0 / span
