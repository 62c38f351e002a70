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
    Retry,
    Throttle,
    after_failure,
    after_operation_error,
    after_unexpected,
)
from orchestrator.core.failures import ErrorKind, ReasonClass
from orchestrator.core.jobs import Job, Stage, State
from orchestrator.core.settings import RecognitionSettings

WHEN = Circumstances(now=1000.0, rand=0.5, retry=RetryPolicy(max_attempts=3, base_delay_s=2.0))
EXPIRED, NOT_READY, WRONG = NotFoundMeans.EXPIRED, NotFoundMeans.NOT_READY, NotFoundMeans.WRONG


def job(state: State = State.RUNNING, attempts: int = 0, submissions: int = 1) -> Job:
    return Job(
        id=1,
        manifest_id=1,
        manifest_name="m",
        source="/a.ogg",
        output="a",
        settings=RecognitionSettings(),
        settings_key="k",
        priority=0,
        state=state,
        attempts=attempts,
        next_action_at=0.0,
        created_at=0.0,
        updated_at=0.0,
        operation_id="op1",
        submissions=submissions,
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
    # Submissions: a 429 pauses the quota; 5xx and 401 back off (Retry-After is a floor).
    (
        Stage.SUBMIT,
        fail(ErrorKind.QUOTA, 7.0),
        "submit",
        WRONG,
        job(State.SUBMITTING),
        Throttle("submit", State.UPLOADED, 7.0, 1.0),
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
        Throttle("status", State.RUNNING, None, 2.0),
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
    (Stage.POLL, fail(ErrorKind.NOT_FOUND), "status", EXPIRED, job(), Recognise("not_found: boom")),
    (
        Stage.POLL,
        fail(ErrorKind.NOT_FOUND),
        "status",
        EXPIRED,
        job(submissions=3),
        Fail("operation op1 not found: not_found: boom", ReasonClass.PERMANENT),
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
        AskLater(State.RUNNING, 1001.0),
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
        Throttle("status", State.FETCHING, 3.0, 1.0),
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
        job(State.FETCHING),
        Recognise("not_found: boom"),
    ),
    (
        Stage.FETCH,
        fail(ErrorKind.NOT_FOUND),
        None,
        NOT_READY,
        job(State.FETCHING),
        AskLater(State.FETCHING, 1001.0),
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
    assert after_operation_error(3, "bad audio") == Fail(
        "recognition failed: bad audio", ReasonClass.RECOGNITION
    )
    assert after_unexpected(job(State.FETCHING), "KeyError: 'x'", WHEN) == Retry(
        State.FETCHING, 1001.0, 1, "internal error: KeyError: 'x'"
    )
    assert after_unexpected(job(State.FETCHING, attempts=2), "oops", WHEN) == Fail(
        "gave up after 3 attempts: internal error: oops", ReasonClass.RETRIES_EXHAUSTED
    )
