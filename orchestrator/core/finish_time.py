"""How long a batch takes to finish under the quotas (pure): the one formula that ``plan``
gives before a run and that ``submit --wait`` / ``status --watch`` give during one.

A lower bound, with each quota's safety margin taken off as the daemon takes it; uploads are
assumed faster than the quotas. Each API's jobs count against the quotas its spec says it
spends (``core.apis``), so the formula names no API:

    requests(q) = the jobs to submit of the APIs submitting on q
                + 1.5 x (jobs to submit + jobs running) of the APIs checking on q
                + 1 x (the same) of the APIs fetching their result on q
                + billable seconds of the jobs to submit of the APIs charging their audio to q
    wait(q)     = wait(requests(q), q); for a synchronous API's quota also at least the sum
                  of its audio seconds x r / its concurrency cap (its requests wait for
                  their answers)
    longest     = max over the asynchronous jobs to submit of audio seconds (all channels) x r
    running     = max over the jobs already submitted of the processing time they have left
    finish      = max(max over the asynchronous APIs' quotas of wait(q) + longest, running,
                      max over the synchronous APIs' quotas of wait(q))

where ``wait(n, quota)`` is 0 when the ``n`` requests fit in what the quota has left now,
else one window for each further window's worth: ``ceil((n - left) / limit) x window``.
Before a run (``plan``) a quota has its whole window left, which makes it
``(ceil(n / limit) - 1) x window``: the last batch starts at the beginning of its window.
``r`` is the processing time per audio second: 10 s per audio minute in ``plan``; during a
run, the quantile the daemon learned per API and model. Deferred models may take up to
24 h more. The jobs other manifests will submit first count as the default API's.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from orchestrator.core.apis import ApiCatalogue, ApiSpec
from orchestrator.core.billing import billable_seconds
from orchestrator.core.jobs import TERMINAL, Job, State
from orchestrator.core.quota import QuotaSpec

STATUS_CHECKS_PER_JOB = 1.5
# A result fetched by a request of its own: one per job.
RESULT_REQUESTS_PER_JOB = 1.0


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
    """The quotas a batch's jobs draw on, by name, and each capped API's concurrency."""

    windows: Mapping[str, Window]
    concurrency: Mapping[str, int] = field(default_factory=dict)


def whole_windows(specs: Mapping[str, QuotaSpec], concurrency: Mapping[str, int]) -> Quotas:
    """The quotas with their whole window ahead, as the daemon counts them (``plan``)."""
    return Quotas(
        {name: Window(spec.effective_limit, spec.window_s) for name, spec in specs.items()},
        dict(concurrency),
    )


@dataclass(frozen=True)
class Work:
    """What is left to do, by API."""

    to_submit: Mapping[str, int] = field(default_factory=dict)  # jobs still to submit
    # Jobs submitted and not yet done (their checks to come).
    checking: Mapping[str, int] = field(default_factory=dict)
    billable_s: Mapping[str, float] = field(default_factory=dict)  # of the jobs to submit
    longest_processing_s: float = 0.0  # the longest processing among the jobs to submit
    running_left_s: float = 0.0  # the longest processing time left of the submitted jobs
    # A synchronous API's processing, summed over its jobs.
    processing_s: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class FinishTime:
    """The time to finish and what makes it up, in seconds: the wait each quota causes."""

    waits_s: Mapping[str, float]
    longest_processing_s: float
    finish_s: float


def requests_of(work: Work, apis: ApiCatalogue) -> dict[str, float]:
    """What each quota will be asked for: requests, or seconds of audio (see the module)."""
    found: defaultdict[str, float] = defaultdict(float)
    for name, spec in apis.items():
        submitting = work.to_submit.get(name, 0)
        after = submitting + work.checking.get(name, 0)
        found[spec.submit_quota] += submitting
        if spec.status_quota is not None:
            found[spec.status_quota] += STATUS_CHECKS_PER_JOB * after
        if spec.result_quota is not None:
            found[spec.result_quota] += RESULT_REQUESTS_PER_JOB * after
        if spec.audio_quota is not None:
            found[spec.audio_quota] += work.billable_s.get(name, 0.0)
    return dict(found)


def _sync_wait(spec: ApiSpec, work: Work, quotas: Quotas) -> float:
    """A synchronous API's requests hold a connection each: at most its cap at once."""
    cap = quotas.concurrency.get(spec.name)
    processing = work.processing_s.get(spec.name, 0.0)
    return 0.0 if cap is None else processing / max(1, cap)


def finish_time(work: Work, quotas: Quotas, apis: ApiCatalogue) -> FinishTime:
    """The time to finish ``work`` under ``quotas`` (see the module docstring)."""
    requests = requests_of(work, apis)
    declared = apis.quotas()
    waits = {
        # Requests are whole; an amount (seconds of audio) is counted as it is.
        name: window.wait(
            requests.get(name, 0.0)
            if name in declared and declared[name].amount
            else math.ceil(requests.get(name, 0.0))
        )
        for name, window in quotas.windows.items()
    }
    asynchronous = [spec for spec in apis.values() if spec.asynchronous]
    for spec in apis.values():
        if not spec.asynchronous:
            quota = spec.submit_quota
            waits[quota] = max(waits.get(quota, 0.0), _sync_wait(spec, work, quotas))
    submitting = sum(work.to_submit.get(spec.name, 0) for spec in asynchronous)
    checking = sum(work.checking.get(spec.name, 0) for spec in asynchronous)
    async_waits = [waits.get(q, 0.0) for spec in asynchronous for q in spec.spends()]
    slowest = max(async_waits, default=0.0)
    # With only checks left, they wait for their quota as much as for the service.
    done_async = slowest + work.longest_processing_s if submitting else slowest if checking else 0.0
    sync_waits = [waits.get(s.submit_quota, 0.0) for s in apis.values() if not s.asynchronous]
    return FinishTime(
        waits_s=waits,
        longest_processing_s=work.longest_processing_s,
        finish_s=max(done_async, work.running_left_s, *sync_waits),
    )


# A job in one of these states still needs its submission (a waiting job follows the job
# that recognises the same audio, and needs none).
TO_SUBMIT = frozenset({State.QUEUED, State.UPLOADING, State.UPLOADED, State.SUBMITTING})


def work_of(
    jobs: Iterable[Job],
    predict: Callable[[str, str, float], float],
    now: float,
    apis: ApiCatalogue,
    ahead: int = 0,
) -> Work:
    """What is left of ``jobs`` at ``now``: ``predict(api, model, audio_s)`` is the
    processing time learned for ``audio_s`` seconds (all channels); ``ahead`` counts the submissions
    other manifests' jobs, due earlier, will spend first (as the default API's)."""
    to_submit: defaultdict[str, int] = defaultdict(int)
    checking: defaultdict[str, int] = defaultdict(int)
    billable: defaultdict[str, float] = defaultdict(float)
    processing: defaultdict[str, float] = defaultdict(float)
    longest = running_left = 0.0
    for job in jobs:
        if job.state in TERMINAL or job.state is State.WAITING:
            continue
        api, audio = job.settings.api, job.audio
        if not apis[api].asynchronous:
            to_submit[api] += 1
            if audio is not None and audio.duration_s > 0:
                processing[api] += predict(api, job.settings.model, audio.duration_s)
            continue
        audio_s = audio.audio_seconds_all_channels if audio else 0.0
        # Unknown audio (not probed yet) counts no processing time, as before.
        expected = predict(api, job.settings.model, audio_s) if audio_s > 0 else 0.0
        if job.state in TO_SUBMIT:
            to_submit[api] += 1
            if audio is not None and audio.duration_s > 0:
                billable[api] += billable_seconds(audio.duration_s, audio.channels)
            longest = max(longest, expected)
        elif job.state is State.RUNNING:
            checking[api] += 1
            started = job.submitted_at if job.submitted_at is not None else now
            running_left = max(running_left, started + expected - now)
    if ahead:
        to_submit[apis.default.name] += ahead
    return Work(
        to_submit=dict(to_submit),
        checking=dict(checking),
        billable_s=dict(billable),
        longest_processing_s=longest,
        running_left_s=running_left,
        processing_s=dict(processing),
    )


def throughput(finished_at: Iterable[float | None], since: float, now: float) -> float | None:
    """Jobs ended per minute between ``since`` and ``now`` (None when that is too short to
    say: under ten seconds)."""
    span = now - since
    if span < 10.0:
        return None
    ended = sum(1 for at in finished_at if at is not None and since <= at <= now)
    return ended * 60.0 / span
