"""What follows each outcome of a step: a table of (stage, failure, job) -> decision."""

from __future__ import annotations

import dataclasses

import pytest

from orchestrator.core.backoff import RetryPolicy
from orchestrator.core.decisions import (
    AskLater,
    Circumstances,
    Decision,
    Fail,
    Failure,
    NotFoundMeans,
    Recognise,
    Resubmit,
    Retry,
    Throttle,
    after_failure,
    after_operation_error,
    after_unexpected,
    note_when_done,
    operation_finished,
)
from orchestrator.core.failures import ErrorKind, ReasonClass
from orchestrator.core.jobs import Job, Stage, State
from tests.support.jobs import submitted_job

TTL = 3 * 86400.0
WHEN = Circumstances(
    now=1000.0, rand=0.5, retry=RetryPolicy(max_attempts=3, base_delay_s=2.0), results_ttl_s=TTL
)
EXPIRED, NOT_READY, WRONG = NotFoundMeans.EXPIRED, NotFoundMeans.NOT_READY, NotFoundMeans.WRONG
# Submitted long enough ago for its results to have expired, and a minute ago.
OLD, YOUNG = 1000.0 - TTL - 1.0, 940.0


def job(
    state: State = State.RUNNING,
    attempts: int = 0,
    submissions: int = 1,
    submitted_at: float | None = YOUNG,
) -> Job:
    return submitted_job(
        state, submitted_at=submitted_at, attempts=attempts, submissions=submissions
    )


def fail(kind: ErrorKind, retry_after: float | None = None, **kw: ReasonClass) -> Failure:
    return Failure(kind, f"{kind.value}: boom", retry_after, **kw)


# (stage, failure, quota, 404 meaning, job) -> expected decision
TABLE: list[tuple[Stage, Failure, str | None, NotFoundMeans, Job, Decision]] = [
    # Uploads: a busy store is retried from `uploading`; anything else ends the job.
    (
        Stage.UPLOAD,
        fail(ErrorKind.RETRYABLE),
        None,
        WRONG,
        job(State.UPLOADING),
        Retry(State.UPLOADING, 1000.0 + 1.0, 1, "retryable: boom"),
    ),
    (
        Stage.UPLOAD,
        fail(ErrorKind.PERMANENT, reason_class=ReasonClass.STORAGE),
        None,
        WRONG,
        job(State.UPLOADING),
        Fail("permanent: boom", ReasonClass.STORAGE),
    ),
    (
        Stage.UPLOAD,
        fail(ErrorKind.PERMANENT, reason_class=ReasonClass.AUDIO),
        None,
        WRONG,
        job(State.UPLOADING),
        Fail("permanent: boom", ReasonClass.AUDIO),
    ),
    # An unusable bucket is no job's fault: the upload waits, spending no attempt, however
    # many it has spent already; so does a result to be written to the bucket.
    (
        Stage.UPLOAD,
        fail(ErrorKind.BUCKET, reason_class=ReasonClass.STORAGE),
        None,
        WRONG,
        job(State.UPLOADING, attempts=2),
        AskLater(State.UPLOADING, 1001.0, 2),
    ),
    (
        Stage.FETCH,
        fail(ErrorKind.BUCKET, reason_class=ReasonClass.STORAGE),
        None,
        WRONG,
        job(State.FETCHING, attempts=2),
        AskLater(State.FETCHING, 1001.0, 2),
    ),
    # Submissions: a 429 pauses the quota; 5xx and 401 back off (Retry-After is a floor).
    (
        Stage.SUBMIT,
        fail(ErrorKind.QUOTA, 7.0),
        "submit",
        WRONG,
        job(State.SUBMITTING),
        Throttle("submit", State.UPLOADED, 7.0),
    ),
    (
        Stage.SUBMIT,
        fail(ErrorKind.RETRYABLE, 30.0),
        "submit",
        WRONG,
        job(State.SUBMITTING),
        Retry(State.UPLOADED, 1030.0, 1, "retryable: boom"),
    ),
    (
        Stage.SUBMIT,
        fail(ErrorKind.AUTH),
        "submit",
        WRONG,
        job(State.SUBMITTING, attempts=1),
        Retry(State.UPLOADED, 1000.0 + 2.0, 2, "auth: boom"),
    ),
    (
        Stage.SUBMIT,
        fail(ErrorKind.PERMANENT),
        "submit",
        WRONG,
        job(State.SUBMITTING),
        Fail("submission refused: permanent: boom", ReasonClass.PERMANENT),
    ),
    (
        Stage.SUBMIT,
        fail(ErrorKind.NOT_FOUND),
        "submit",
        WRONG,
        job(State.SUBMITTING),
        Fail("submission refused: not_found: boom", ReasonClass.PERMANENT),
    ),
    # The last attempt gives up, with the count in the reason.
    (
        Stage.SUBMIT,
        fail(ErrorKind.RETRYABLE),
        "submit",
        WRONG,
        job(State.SUBMITTING, 2),
        Fail("gave up after 3 attempts: retryable: boom", ReasonClass.RETRIES_EXHAUSTED),
    ),
    # Status checks.
    (
        Stage.POLL,
        fail(ErrorKind.QUOTA),
        "status",
        EXPIRED,
        job(attempts=1),
        Throttle("status", State.RUNNING, None),
    ),
    (
        Stage.POLL,
        fail(ErrorKind.RETRYABLE),
        "status",
        EXPIRED,
        job(),
        Retry(State.RUNNING, 1001.0, 1, "retryable: boom"),
    ),
    (
        Stage.POLL,
        fail(ErrorKind.PERMANENT),
        "status",
        EXPIRED,
        job(),
        Fail("status check refused: permanent: boom", ReasonClass.PERMANENT),
    ),
    # A 404 is an expiry only for an operation older than the results' lifetime...
    (
        Stage.POLL,
        fail(ErrorKind.NOT_FOUND),
        "status",
        EXPIRED,
        job(submitted_at=OLD),
        Recognise("not_found: boom"),
    ),
    (
        Stage.POLL,
        fail(ErrorKind.NOT_FOUND),
        "status",
        EXPIRED,
        job(submissions=3, submitted_at=OLD),
        Fail("operation op1 not found: not_found: boom", ReasonClass.PERMANENT),
    ),
    # ... a younger one (or one of unknown age) is never resubmitted.
    (
        Stage.POLL,
        fail(ErrorKind.NOT_FOUND),
        "status",
        EXPIRED,
        job(),
        Fail(
            "operation op1 not found (not_found: boom), though it was submitted 60 s ago, "
            "within the 259200 s its results are kept: a wrong operation_url, or a key of "
            "another folder? Not submitted again, so it is not paid for twice",
            ReasonClass.PERMANENT,
        ),
    ),
    (
        Stage.POLL,
        fail(ErrorKind.NOT_FOUND),
        "status",
        EXPIRED,
        job(submitted_at=None),
        Fail(
            "operation op1 not found (not_found: boom), though it was of unknown age, "
            "within the 259200 s its results are kept: a wrong operation_url, or a key of "
            "another folder? Not submitted again, so it is not paid for twice",
            ReasonClass.PERMANENT,
        ),
    ),
    (
        Stage.POLL,
        fail(ErrorKind.NOT_FOUND),
        "status",
        WRONG,
        job(),
        Fail("operation op1 not found: not_found: boom", ReasonClass.PERMANENT),
    ),
    (
        Stage.POLL,
        fail(ErrorKind.NOT_FOUND),
        "status",
        NOT_READY,
        job(),
        AskLater(State.RUNNING, 1001.0, 1),
    ),
    # Fetching: a 401 is not retried here (the status check just succeeded with that key).
    (
        Stage.FETCH,
        fail(ErrorKind.RETRYABLE),
        None,
        EXPIRED,
        job(State.FETCHING),
        Retry(State.FETCHING, 1001.0, 1, "retryable: boom"),
    ),
    (
        Stage.FETCH,
        fail(ErrorKind.AUTH),
        None,
        EXPIRED,
        job(State.FETCHING),
        Fail("fetching the result failed: auth: boom", ReasonClass.PERMANENT),
    ),
    (
        Stage.FETCH,
        fail(ErrorKind.QUOTA, 3.0),
        "status",
        NOT_READY,
        job(State.FETCHING),
        Throttle("status", State.FETCHING, 3.0),
    ),
    (
        Stage.FETCH,
        fail(ErrorKind.QUOTA),
        None,
        NOT_READY,
        job(State.FETCHING),
        Retry(State.FETCHING, 1001.0, 1, "quota: boom"),
    ),
    (
        Stage.FETCH,
        fail(ErrorKind.NOT_FOUND),
        None,
        EXPIRED,
        job(State.FETCHING, submitted_at=OLD),
        Recognise("not_found: boom"),
    ),
    # Results not there yet: asked for again, counting the attempts, then given up...
    (
        Stage.FETCH,
        fail(ErrorKind.NOT_FOUND),
        None,
        NOT_READY,
        job(State.FETCHING),
        AskLater(State.FETCHING, 1001.0, 1),
    ),
    (
        Stage.FETCH,
        fail(ErrorKind.NOT_FOUND),
        None,
        NOT_READY,
        job(State.FETCHING, attempts=2),
        Fail(
            "the result of operation op1 was still not found after 3 attempts: not_found: boom",
            ReasonClass.RETRIES_EXHAUSTED,
        ),
    ),
    # ... unless the operation is old enough for them to have expired.
    (
        Stage.FETCH,
        fail(ErrorKind.NOT_FOUND),
        None,
        NOT_READY,
        job(State.FETCHING, submitted_at=OLD),
        Recognise("not_found: boom"),
    ),
]


@pytest.mark.parametrize(("stage", "failure", "quota", "means", "subject", "expected"), TABLE)
def test_after_failure(
    stage: Stage,
    failure: Failure,
    quota: str | None,
    means: NotFoundMeans,
    subject: Job,
    expected: Decision,
) -> None:
    assert after_failure(stage, failure, subject, WHEN, quota=quota, not_found=means) == expected


def test_backoff_grows_with_the_attempts_and_keeps_its_cap() -> None:
    policy = RetryPolicy(max_attempts=100, base_delay_s=2.0, max_delay_s=10.0)
    when = dataclasses.replace(WHEN, rand=0.999, retry=policy)
    delays = [
        after_failure(Stage.POLL, fail(ErrorKind.RETRYABLE), job(attempts=a), when).at - 1000.0  # type: ignore[union-attr]
        for a in range(6)
    ]
    assert delays == sorted(delays)
    assert delays[-1] <= 10.0


def test_a_finished_operation_error_and_a_bug() -> None:
    assert after_operation_error(3, "bad audio", job(), WHEN) == Fail(
        "recognition failed: bad audio", ReasonClass.RECOGNITION
    )
    assert after_unexpected(job(State.FETCHING), "KeyError: 'x'", WHEN) == Retry(
        State.FETCHING, 1001.0, 1, "internal error: KeyError: 'x'"
    )
    assert after_unexpected(job(State.FETCHING, attempts=2), "oops", WHEN) == Fail(
        "gave up after 3 attempts: internal error: oops", ReasonClass.RETRIES_EXHAUSTED
    )


@pytest.mark.parametrize("code", [13, 14, 4])
def test_the_services_own_trouble_is_submitted_again_up_to_the_limit(code: int) -> None:
    decision = after_operation_error(code, "internal", job(submissions=1), WHEN)
    # The first backoff of the policy (base 2 s, half of it at rand 0.5).
    assert decision == Resubmit("recognition failed: internal", 1001.0, 1)
    later = after_operation_error(code, "internal", job(submissions=2), WHEN)
    assert isinstance(later, Resubmit)
    assert later.at == 1002.0
    assert after_operation_error(code, "internal", job(submissions=3), WHEN) == Fail(
        "gave up after 3 submissions: recognition failed: internal", ReasonClass.RETRIES_EXHAUSTED
    )


@pytest.mark.parametrize("code", [3, 7, 5, None])
def test_other_operation_errors_are_final(code: int | None) -> None:
    assert after_operation_error(code, "no", job(), WHEN) == Fail(
        "recognition failed: no", ReasonClass.RECOGNITION
    )


def test_an_error_finishes_an_operation_whatever_done_says() -> None:
    assert operation_finished(True, False)
    assert operation_finished(False, True)
    assert operation_finished(True, True)
    assert not operation_finished(False, False)


def test_a_job_that_recognised_nothing_is_done_with_a_note() -> None:
    assert note_when_done(True) == "no speech recognised"
    assert note_when_done(False) is None
