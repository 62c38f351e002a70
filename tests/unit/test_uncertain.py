"""What the documentation leaves uncertain (docs/reference.md, "What is uncertain"): under
each reading, the daemon's choice costs neither money nor transcripts."""

from __future__ import annotations

import pytest

from orchestrator.core.backoff import RetryPolicy
from orchestrator.core.decisions import (
    Circumstances,
    Fail,
    Failure,
    NotFoundMeans,
    Recognise,
    Resubmit,
    Retry,
    after_failure,
)
from orchestrator.core.failures import ErrorKind
from orchestrator.core.jobs import Job, Stage, State
from orchestrator.speechkit import SubmitRequest
from orchestrator.speechkit.errors import kind_for_status
from orchestrator.speechkit.v2 import v2_request_body
from orchestrator.speechkit.v3 import v3_request_body
from tests.support.jobs import submitted_job

TTL = 3 * 86400.0
WHEN = Circumstances(now=1000.0, rand=0.5, retry=RetryPolicy(max_attempts=3), results_ttl_s=TTL)
NOT_FOUND = Failure(ErrorKind.NOT_FOUND, "not found", None)


def job(submitted_at: float | None, state: State = State.RUNNING) -> Job:
    return submitted_job(state, submitted_at=submitted_at)


@pytest.mark.parametrize("means", list(NotFoundMeans))
@pytest.mark.parametrize("stage", [Stage.POLL, Stage.FETCH])
@pytest.mark.parametrize("submitted_at", [940.0, None], ids=["a minute old", "of unknown age"])
def test_a_young_404_never_pays_twice_whatever_a_404_means(
    means: NotFoundMeans, stage: Stage, submitted_at: float | None
) -> None:
    # A 404 may be an expiry, "not ready yet", a wrong endpoint or another folder's key:
    # for an operation younger than the results' lifetime none of them recognises again.
    decision = after_failure(stage, NOT_FOUND, job(submitted_at), WHEN, not_found=means)
    assert not isinstance(decision, Recognise | Resubmit)


def test_only_an_old_enough_404_read_as_expiry_recognises_again() -> None:
    old = job(1000.0 - TTL - 1.0)
    expired = after_failure(Stage.POLL, NOT_FOUND, old, WHEN, not_found=NotFoundMeans.EXPIRED)
    assert isinstance(expired, Recognise)  # the transcript is not lost: the audio is kept
    wrong = after_failure(Stage.POLL, NOT_FOUND, old, WHEN, not_found=NotFoundMeans.WRONG)
    assert isinstance(wrong, Fail)


@pytest.mark.parametrize(
    ("status", "decision"),
    [
        (401, Retry),  # the key is refused: asked again later, a refusal is not billed
        (400, Fail),  # the emulator's reading of an unknown key (as a community client)
        (403, Fail),
        (423, Fail),  # a locked key
    ],
)
def test_asr_xml_refusing_a_cloud_api_key_fails_without_recognising(
    status: int, decision: type
) -> None:
    # Whether asr.yandex.net takes a Yandex Cloud API key as key= is not documented. If it
    # does not, it refuses the request: nothing is recognised, so nothing is billed, and
    # the audio never left the disk (asr_xml uploads nothing), so `retry` recovers it.
    failure = Failure(kind_for_status(status), f"HTTP {status}", None)
    found = after_failure(Stage.SUBMIT, failure, job(None, State.UPLOADED), WHEN)
    assert isinstance(found, decision)
    assert not isinstance(found, Recognise | Resubmit)


@pytest.mark.parametrize("encoding", ["OGG_OPUS", "MP3"])
def test_a_container_is_never_sent_with_a_channel_count(encoding: str) -> None:
    # Whether the service refuses audioChannelCount beside OGG or MP3 is not documented
    # (the reference says "do not use this field"): the daemon never sends it, so either
    # reading gives the same request.
    request = SubmitRequest("https://storage.yandexcloud.net/b/k", encoding, channels=2)
    assert "audioChannelCount" not in v2_request_body(request)["config"]["specification"]
    audio_format = v3_request_body(request)["recognitionModel"]["audioFormat"]
    assert audio_format == {"containerAudio": {"containerAudioType": encoding}}
