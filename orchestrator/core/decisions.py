"""What follows each outcome of a step (sans-I/O): retry, pause a quota, recognise again,
ask later, or fail for good.

A stage performs a request, turns what went wrong into a :class:`Failure`, and acts on the
:data:`Decision` these functions return; nothing here sends, stores or reads a clock. What
a 404 means is the API's to say (:class:`NotFoundMeans`), per step, so one set of rules
serves every API.

How the real service behaves, and what follows (speechkit-api.md, section 2):

* An operation that ends with the service's own trouble (13 INTERNAL, 14 UNAVAILABLE,
  4 DEADLINE_EXCEEDED) is not billed: the audio is submitted again after a backoff, up to
  the attempt limit. Any other code (3: the audio or settings, 7: no access) is final.
* Results are kept for a few days; after that the operation reads as 404. A 404 for an
  operation younger than that lifetime cannot be an expiry (a wrong endpoint, a key of
  another folder): the job fails and is never resubmitted, which would pay for it twice.
* ``done: false`` with an ``error`` is finished (operation.proto allows that shape).
* A finished operation without ``chunks`` recognised nothing: the job is done, with a note
  its report and log carry, rather than silently an empty transcript.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from orchestrator.core.backoff import RetryPolicy, retry_at, should_give_up
from orchestrator.core.constants import (
    GRPC_DEADLINE_EXCEEDED,
    GRPC_INTERNAL,
    GRPC_UNAVAILABLE,
    RESULT_TTL_S,
)
from orchestrator.core.failures import ErrorKind, ReasonClass
from orchestrator.core.jobs import Job, Stage, State

# A refused credential (401) is usually fixed by the operator within minutes: retried with
# backoff like a 5xx, so a bad key does not fail a whole batch at once.
_RETRY_KINDS = frozenset({ErrorKind.RETRYABLE, ErrorKind.AUTH})
# Codes of an operation that failed for the service's own reasons (not billed): worth
# submitting again. 3 (bad audio or settings) and 7 (no access to the object) are not.
TRANSIENT_OPERATION_CODES = frozenset({GRPC_INTERNAL, GRPC_UNAVAILABLE, GRPC_DEADLINE_EXCEEDED})
# Something that is not there yet is asked for again no sooner than this.
MIN_ASK_LATER_S = 1.0
# A step that could get no credential waits this long when the failure names no time.
CREDENTIALS_WAIT_S = 10.0
# A step that found the bucket unusable is due again after this: its stage takes no job
# that needs the bucket until a check finds it mended, so this only orders the backlog.
BUCKET_WAIT_S = MIN_ASK_LATER_S


class NotFoundMeans(enum.Enum):
    """What a 404 answer means for one step of one API."""

    EXPIRED = "expired"  # the results are gone (kept for days): recognise the audio again
    NOT_READY = "not_ready"  # not there yet: ask again later, no attempt spent
    WRONG = "wrong"  # a wrong endpoint, or a key of another folder: fail, never resubmit


@dataclass(frozen=True)
class Failure:
    """What went wrong with one request, whatever service or library reported it."""

    kind: ErrorKind
    message: str
    retry_after: float | None = None
    reason_class: ReasonClass = ReasonClass.PERMANENT  # for a failure that ends the job


@dataclass(frozen=True)
class Retry:
    """Try the step again at ``at`` (``attempts`` failed so far), from state ``back_to``."""

    back_to: State
    at: float
    attempts: int
    reason: str


@dataclass(frozen=True)
class Fail:
    """End the job as failed, with a reason a person can act on."""

    reason: str
    reason_class: ReasonClass


@dataclass(frozen=True)
class Throttle:
    """A 429: pause the whole ``quota`` (the server's Retry-After, else a backoff that grows
    with each 429 on that quota) and put the job back in ``back_to`` without spending one
    of its attempts."""

    quota: str
    back_to: State
    retry_after: float | None


@dataclass(frozen=True)
class Recognise:
    """The service no longer has the results: submit the audio again."""

    reason: str


@dataclass(frozen=True)
class Resubmit:
    """The recognition failed for the service's own reasons: submit the audio again at
    ``at`` (the job has been submitted ``submissions`` times)."""

    reason: str
    at: float
    submissions: int


@dataclass(frozen=True)
class AskLater:
    """Not there yet: the same step again at ``at``; ``attempts`` failed so far."""

    back_to: State
    at: float
    attempts: int = 0


Decision = Retry | Fail | Throttle | Recognise | Resubmit | AskLater


@dataclass(frozen=True)
class Circumstances:
    """What a decision may depend on besides the failure and the job."""

    now: float
    rand: float  # uniform in [0, 1): the jitter of a backoff
    retry: RetryPolicy
    results_ttl_s: float = RESULT_TTL_S  # how long the service keeps a finished result


# The state a step goes back to when it is tried again.
_RETRY_FROM = {
    Stage.UPLOAD: State.UPLOADING,
    Stage.SUBMIT: State.UPLOADED,
    Stage.POLL: State.RUNNING,
    Stage.FETCH: State.FETCHING,
}
_WHAT = {
    Stage.SUBMIT: "submission refused",
    Stage.POLL: "status check refused",
    Stage.FETCH: "fetching the result failed",
}


def retry_or_give_up(
    job: Job, back_to: State, reason: str, retry_after: float | None, when: Circumstances
) -> Retry | Fail:
    """Retry with backoff and full jitter, or fail once the attempts are used up."""
    attempts = job.attempts + 1
    if should_give_up(attempts, when.retry):
        return Fail(f"gave up after {attempts} attempts: {reason}", ReasonClass.RETRIES_EXHAUSTED)
    at = retry_at(when.now, attempts, when.retry, when.rand, retry_after)
    return Retry(back_to, at, attempts, reason)


def after_failure(
    stage: Stage,
    failure: Failure,
    job: Job,
    when: Circumstances,
    *,
    quota: str | None = None,
    not_found: NotFoundMeans = NotFoundMeans.WRONG,
) -> Decision:
    """What follows a failed request of ``stage`` for ``job``.

    ``quota`` is the quota the request spent (a 429 pauses it); ``not_found`` is what a 404
    means for this step of the job's API.
    """
    back_to = _RETRY_FROM[stage]
    waits = _waits(back_to, failure, job, when, quota)
    if waits is not None:
        return waits
    if failure.kind is ErrorKind.NOT_FOUND and stage in (Stage.POLL, Stage.FETCH):
        return _not_found(stage, failure, job, when, not_found)
    if stage is Stage.UPLOAD:
        if failure.kind is ErrorKind.RETRYABLE:
            return retry_or_give_up(job, back_to, failure.message, None, when)
        return Fail(failure.message, failure.reason_class)
    retry_kinds = _RETRY_KINDS if stage is not Stage.FETCH else frozenset({ErrorKind.RETRYABLE})
    if failure.kind in retry_kinds or failure.kind is ErrorKind.QUOTA:
        return retry_or_give_up(job, back_to, failure.message, failure.retry_after, when)
    return Fail(f"{_WHAT[stage]}: {failure.message}", failure.reason_class)


def _waits(
    back_to: State, failure: Failure, job: Job, when: Circumstances, quota: str | None
) -> Throttle | AskLater | None:
    """A wait that spends no attempt: a 429 pauses its quota; without a credential (its
    renewal failed, nothing was sent) or a usable bucket the job asks again later."""
    if failure.kind is ErrorKind.QUOTA and quota is not None:
        return Throttle(quota, back_to, failure.retry_after)
    if failure.kind is ErrorKind.BUCKET:
        return AskLater(back_to, when.now + BUCKET_WAIT_S, job.attempts)
    if failure.kind is ErrorKind.CREDENTIALS:
        wait = failure.retry_after if failure.retry_after is not None else CREDENTIALS_WAIT_S
        return AskLater(back_to, when.now + max(MIN_ASK_LATER_S, wait), job.attempts)
    return None


def could_have_expired(job: Job, when: Circumstances) -> bool:
    """True when the job's operation is old enough for its results to be gone: submitted at
    least the results' lifetime ago. (An operation of unknown age is taken as young: a
    wrong guess there pays for the audio twice.)"""
    return job.submitted_at is not None and when.now - job.submitted_at >= when.results_ttl_s


def _not_found(
    stage: Stage, failure: Failure, job: Job, when: Circumstances, means: NotFoundMeans
) -> Decision:
    expired = means is not NotFoundMeans.WRONG and could_have_expired(job, when)
    if expired and job.submissions < when.retry.max_attempts:
        return Recognise(failure.message)
    if means is NotFoundMeans.NOT_READY and not expired:
        # Not there yet: asked again later, but not for ever (the results may never come).
        attempts = job.attempts + 1
        if should_give_up(attempts, when.retry):
            return Fail(
                f"the result of operation {job.operation_id} was still not found after "
                f"{attempts} attempts: {failure.message}",
                ReasonClass.RETRIES_EXHAUSTED,
            )
        delay = retry_at(0.0, attempts, when.retry, when.rand, failure.retry_after)
        return AskLater(_RETRY_FROM[stage], when.now + max(MIN_ASK_LATER_S, delay), attempts)
    if means is NotFoundMeans.EXPIRED and not expired:
        age = (
            "of unknown age"
            if job.submitted_at is None
            else (f"submitted {when.now - job.submitted_at:.0f} s ago")
        )
        return Fail(
            f"operation {job.operation_id} not found ({failure.message}), though it was "
            f"{age}, within the {when.results_ttl_s:.0f} s its results are kept: a wrong "
            "operation_url, or a key of another folder? Not submitted again, so it is not "
            "paid for twice",
            ReasonClass.PERMANENT,
        )
    return Fail(f"operation {job.operation_id} not found: {failure.message}", ReasonClass.PERMANENT)


# What the report and the log say of a job whose recognition found nothing.
NO_SPEECH = "no speech recognised"


def note_when_done(recognised_nothing: bool) -> str | None:
    """The note a finished job carries to its report: why its outputs are empty, if so."""
    return NO_SPEECH if recognised_nothing else None


def operation_finished(done: bool, has_error: bool) -> bool:
    """Whether an Operation is over: ``done``, or carrying an ``error`` whatever ``done``
    says (operation.proto allows ``done: false`` beside an error)."""
    return done or has_error


def after_operation_error(
    code: int | None, message: str, job: Job, when: Circumstances
) -> Resubmit | Fail:
    """What follows a recognition that failed: the service's own trouble (not billed) is
    submitted again with backoff, up to the attempt limit; anything else is final."""
    reason = f"recognition failed: {message}"
    if code not in TRANSIENT_OPERATION_CODES:
        return Fail(reason, ReasonClass.RECOGNITION)
    if should_give_up(job.submissions, when.retry):
        return Fail(
            f"gave up after {job.submissions} submissions: {reason}", ReasonClass.RETRIES_EXHAUSTED
        )
    at = retry_at(when.now, job.submissions, when.retry, when.rand, None)
    return Resubmit(reason, at, job.submissions)


def after_unexpected(job: Job, reason: str, when: Circumstances) -> Retry | Fail:
    """A bug or an unforeseen failure inside a step: the job is retried, never lost."""
    return retry_or_give_up(job, job.state, f"internal error: {reason}", None, when)
