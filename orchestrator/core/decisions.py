"""What follows each outcome of a step (sans-I/O): retry, pause a quota, recognise again,
ask later, or fail for good.

A stage performs a request, turns what went wrong into a :class:`Failure`, and acts on the
:data:`Decision` these functions return; nothing here sends, stores or reads a clock. What
a 404 means is the API's to say (:class:`NotFoundMeans`), per step, so one set of rules
serves every API.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from orchestrator.core.backoff import RetryPolicy, retry_at, should_give_up
from orchestrator.core.failures import ErrorKind, ReasonClass
from orchestrator.core.jobs import Job, Stage, State

# A refused credential (401) is usually fixed by the operator within minutes: retried with
# backoff like a 5xx, so a bad key does not fail a whole batch at once.
_RETRY_KINDS = frozenset({ErrorKind.RETRYABLE, ErrorKind.AUTH})
# A 429 is the quota's business, not the job's: the whole quota pauses for at least this.
MIN_PAUSE_S = 1.0


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
    """A 429: pause the whole ``quota`` (the server's Retry-After, else ``fallback_s``) and
    put the job back in ``back_to`` without spending one of its attempts."""

    quota: str
    back_to: State
    retry_after: float | None
    fallback_s: float


@dataclass(frozen=True)
class Recognise:
    """The service no longer has the results: submit the audio again."""

    reason: str


@dataclass(frozen=True)
class AskLater:
    """Not there yet: the same step again at ``at``, no attempt spent."""

    back_to: State
    at: float


Decision = Retry | Fail | Throttle | Recognise | AskLater


@dataclass(frozen=True)
class Circumstances:
    """What a decision may depend on besides the failure and the job."""

    now: float
    rand: float  # uniform in [0, 1): the jitter of a backoff
    retry: RetryPolicy


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


def throttle(
    job: Job, quota: str, back_to: State, failure: Failure, when: Circumstances
) -> Throttle:
    """The pause after a 429: the server's Retry-After, or the job's next backoff."""
    fallback = retry_at(0.0, job.attempts + 1, when.retry, when.rand, None)
    return Throttle(quota, back_to, failure.retry_after, max(MIN_PAUSE_S, fallback))


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
    if failure.kind is ErrorKind.QUOTA and quota is not None:
        return throttle(job, quota, back_to, failure, when)
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


def _not_found(
    stage: Stage, failure: Failure, job: Job, when: Circumstances, means: NotFoundMeans
) -> Decision:
    if means is NotFoundMeans.NOT_READY:
        delay = retry_at(0.0, job.attempts + 1, when.retry, when.rand, failure.retry_after)
        return AskLater(_RETRY_FROM[stage], when.now + max(MIN_PAUSE_S, delay))
    if means is NotFoundMeans.EXPIRED and job.submissions < when.retry.max_attempts:
        return Recognise(failure.message)
    return Fail(f"operation {job.operation_id} not found: {failure.message}", ReasonClass.PERMANENT)


def after_operation_error(code: int | None, message: str) -> Decision:
    """What follows an operation that finished with an error: the service's word is final."""
    return Fail(f"recognition failed: {message}", ReasonClass.RECOGNITION)


def after_unexpected(job: Job, reason: str, when: Circumstances) -> Retry | Fail:
    """A bug or an unforeseen failure inside a step: the job is retried, never lost."""
    return retry_or_give_up(job, job.state, f"internal error: {reason}", None, when)
