"""Error classification: what the pipeline may retry, and what it must not."""

from __future__ import annotations

import email.utils
import json

import aiohttp
import pytest

from orchestrator.speechkit.base import OperationFailure, OperationStatus
from orchestrator.speechkit.errors import (
    ErrorKind,
    RecognitionFailed,
    SpeechKitError,
    classify,
    from_transport_error,
    operation_error,
    parse_retry_after,
    transport_errors,
)


def _body(code: int, message: str) -> str:
    return json.dumps({"code": code, "message": message, "details": []})


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, ErrorKind.PERMANENT),
        (403, ErrorKind.PERMANENT),
        (401, ErrorKind.AUTH),
        (404, ErrorKind.NOT_FOUND),
        (408, ErrorKind.RETRYABLE),
        (429, ErrorKind.QUOTA),
        (500, ErrorKind.RETRYABLE),
        (502, ErrorKind.RETRYABLE),
        (503, ErrorKind.RETRYABLE),
        (504, ErrorKind.RETRYABLE),
        (409, ErrorKind.PERMANENT),
    ],
)
def test_status_decides_the_kind(status: int, kind: ErrorKind) -> None:
    assert classify(status, None, {}).kind is kind


def test_retryable_kinds() -> None:
    assert {k for k in ErrorKind if k.retryable} == {ErrorKind.RETRYABLE, ErrorKind.QUOTA}


def test_service_message_code_and_request_id_are_kept() -> None:
    err = classify(
        400,
        _body(3, "Invalid audio encoding: WAV"),
        {"X-Request-Id": "req-1", "Content-Type": "application/json"},
    )
    assert err.kind is ErrorKind.PERMANENT
    assert (err.http_status, err.grpc_code) == (400, 3)
    assert err.message == "Invalid audio encoding: WAV"
    assert err.request_id == "req-1"
    assert err.retry_after is None
    assert "Invalid audio encoding: WAV" in str(err)
    assert "req-1" in str(err)


def test_body_as_parsed_json_or_bytes() -> None:
    assert classify(401, {"code": 16, "message": "bad key"}).message == "bad key"
    assert classify(401, _body(16, "bad key").encode()).grpc_code == 16


def test_non_json_body_is_cut_to_one_line() -> None:
    err = classify(502, "<html>\n<body>Bad gateway</body>\n" + "x" * 2000, None)
    assert err.kind is ErrorKind.RETRYABLE
    assert err.grpc_code is None
    assert "\n" not in err.message
    assert len(err.message) < 600


def test_empty_body_still_says_something() -> None:
    assert classify(503, b"", {}).message == "HTTP 503 without an error message"


def test_quota_with_retry_after_seconds() -> None:
    err = classify(429, _body(8, "quota exceeded"), {"Retry-After": "17"})
    assert err.kind is ErrorKind.QUOTA
    assert err.retry_after == 17.0
    assert err.retryable


def test_retry_after_header_case_insensitive_in_a_plain_dict() -> None:
    assert classify(429, None, {"retry-after": "3"}).retry_after == 3.0


def test_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 120, usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(120.0)
    assert parse_retry_after(email.utils.formatdate(now - 5, usegmt=True), now=now) == 0.0


@pytest.mark.parametrize(
    ("value", "expected"), [(None, None), ("", None), ("soon", None), ("-3", 0.0), ("2.5", 2.5)]
)
def test_retry_after_odd_values(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_permanent_errors_ignore_retry_after() -> None:
    assert classify(400, None, {"Retry-After": "5"}).retry_after is None


def test_message_never_echoes_credentials() -> None:
    headers = {"Authorization": "Api-Key AQVN-secret-value", "x-request-id": "r"}
    body = "error for https://asr.yandex.net/asr_xml?uuid=1&key=AQVN-secret-value&topic=x"
    for status in (400, 401, 500):
        text = str(classify(status, body, headers))
        assert "AQVN-secret-value" not in text


def test_operation_error_is_permanent() -> None:
    err = operation_error(3, "audio could not be decoded", request_id="r")
    assert err.kind is ErrorKind.PERMANENT
    assert err.grpc_code == 3
    assert err.message == "audio could not be decoded"
    assert operation_error(13, None).message == "operation failed with code 13"


def test_operation_status_failure() -> None:
    ok = OperationStatus(id="op", done=True, response={})
    failed = OperationStatus(id="op", done=True, error=OperationFailure(5, "object not found"))
    assert ok.failure() is None
    failure = failed.failure()
    assert failure is not None
    assert (failure.kind, failure.grpc_code) == (ErrorKind.PERMANENT, 5)


@pytest.mark.parametrize(
    "exc",
    [
        TimeoutError(),
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientPayloadError("Response payload is not completed"),
        ConnectionResetError(104, "Connection reset by peer"),
        aiohttp.ClientOSError(111, "Connection refused"),
    ],
)
async def test_transport_errors_become_retryable(exc: BaseException) -> None:
    async def fail() -> None:
        raise exc

    with pytest.raises(SpeechKitError) as caught, transport_errors("operation status"):
        await fail()
    assert caught.value.kind is ErrorKind.RETRYABLE
    assert caught.value.message.startswith("operation status: ")
    assert caught.value.__cause__ is exc


def test_invalid_url_is_permanent() -> None:
    err = from_transport_error(aiohttp.InvalidURL("ht!tp://"), "submit")
    assert err.kind is ErrorKind.PERMANENT


def test_transport_error_text_is_redacted() -> None:
    exc = aiohttp.ClientConnectionError("cannot reach https://asr.yandex.net/asr_xml?key=SECRET1")
    assert "SECRET1" not in str(from_transport_error(exc))


def test_other_exceptions_pass_through() -> None:
    with pytest.raises(KeyError), transport_errors():
        raise KeyError("a bug, not a network failure")
    original = SpeechKitError(ErrorKind.AUTH, "bad key")
    with pytest.raises(SpeechKitError) as caught, transport_errors():
        raise original
    assert caught.value is original


def test_an_http_date_needs_the_callers_clock() -> None:
    # Nothing in the error module reads a clock: without `now` a date is not understood
    # (the caller's backoff applies); with it, the delay is the date's distance from now.
    header = email.utils.formatdate(2_000_000_120.0, usegmt=True)
    assert parse_retry_after(header) is None
    assert classify(429, None, {"Retry-After": header}).retry_after is None
    assert classify(429, None, {"Retry-After": header}, now=2e9).retry_after == 120.0


def test_the_request_id_of_an_error_body_is_kept_when_no_header_has_one() -> None:
    body = {
        "code": 3,
        "message": "bad",
        "details": [
            {"@type": "type.googleapis.com/google.rpc.BadRequest"},
            {"@type": "type.googleapis.com/google.rpc.RequestInfo", "requestId": "rq-9"},
        ],
    }
    assert classify(400, body).request_id == "rq-9"
    # The header wins when both are there (the service sends the same id in both).
    assert classify(400, body, {"x-request-id": "hdr-1"}).request_id == "hdr-1"
    err = classify(500, body)
    err.client_request_id = "mine"
    assert err.ids() == {"client_request_id": "mine", "request_id": "rq-9"}
    assert classify(500, {"code": 13}).ids() == {}


def test_a_failed_recognition_is_its_own_kind_of_error() -> None:
    failed = operation_error(14, "unavailable", request_id="r", client_request_id="c")
    assert isinstance(failed, RecognitionFailed)
    assert failed.ids() == {"client_request_id": "c", "request_id": "r"}
