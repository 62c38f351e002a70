"""The v2 client: its request body (pure), and the client against the emulator over real HTTP."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from orchestrator.core.constants import STORAGE_URL
from orchestrator.core.transcript import Transcript
from orchestrator.emulator import EMULATED_MARK, RunningEmulator
from orchestrator.speechkit import (
    ErrorKind,
    OperationStatus,
    RecognitionClient,
    SpeechKitError,
    SubmitRequest,
    V2Client,
    v2_request_body,
)
from tests.conftest import S3Server
from tests.support.emulator import AUTH_HEADERS, TEST_IAM_TOKEN, emulator
from tests.support.storage import upload_file
from tests.support.waiting import operation_done

DATA = Path(__file__).resolve().parent.parent / "data"
OGG = SubmitRequest(audio_uri=f"{STORAGE_URL}/b/k.ogg", encoding="OGG_OPUS")

# -- the request body (pure) -----------------------------------------------------------


def test_body_for_ogg_has_no_rate_or_channels() -> None:
    assert v2_request_body(OGG) == {
        "config": {
            "specification": {
                "languageCode": "ru-RU",
                "model": "general",
                "profanityFilter": False,
                "literature_text": False,
                "audioEncoding": "OGG_OPUS",
                "rawResults": False,
            }
        },
        "audio": {"uri": f"{STORAGE_URL}/b/k.ogg"},
    }


def test_body_for_lpcm_carries_rate_and_channels() -> None:
    request = SubmitRequest(
        audio_uri="u",
        encoding="LINEAR16_PCM",
        sample_rate=8000,
        channels=2,
        language="en-US",
        model="deferred-general",
        profanity_filter=True,
        literature_text=True,
        raw_results=True,
    )
    spec = v2_request_body(request)["config"]["specification"]
    assert spec == {
        "languageCode": "en-US",
        "model": "deferred-general",
        "profanityFilter": True,
        "literature_text": True,
        "audioEncoding": "LINEAR16_PCM",
        "rawResults": True,
        "sampleRateHertz": 8000,
        "audioChannelCount": 2,
    }


def test_mp3_with_channels_still_sends_none() -> None:
    spec = v2_request_body(replace(OGG, encoding="MP3", channels=2, sample_rate=44100))
    assert "audioChannelCount" not in spec["config"]["specification"]
    assert "sampleRateHertz" not in spec["config"]["specification"]


@pytest.mark.parametrize(
    ("request_", "match"),
    [
        (replace(OGG, encoding="WAV"), "encoding"),
        (replace(OGG, encoding="LINEAR16_PCM"), "sample rate"),
    ],
)
def test_body_rejects_what_the_service_would(request_: SubmitRequest, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        v2_request_body(request_)


# -- headers and odd answers, seen by a recording server -----------------------------------


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[str, list[web.Request]]]:
    """A server that records requests; it answers the submit path with a non-Operation
    (first a list, then an object without an id)."""
    seen: list[web.Request] = []

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        seen.append(request)
        if request.method == "POST":
            posted = sum(r.method == "POST" for r in seen)
            return web.json_response(["not", "an", "operation"] if posted == 1 else {"done": False})
        return web.json_response({"id": "op1", "done": False})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}", seen
    finally:
        await runner.cleanup()


async def test_headers_and_malformed_answer(recorder: tuple[str, list[web.Request]]) -> None:
    url, seen = recorder
    tokens = iter(["t1", "t2", "t3"])
    async with aiohttp.ClientSession() as session:
        client = V2Client(
            session,
            url + "/",
            url,
            lambda: {"Authorization": f"Bearer {next(tokens)}"},
            5.0,
            data_logging=True,
        )
        with pytest.raises(SpeechKitError) as caught:
            await client.submit(OGG)
        with pytest.raises(SpeechKitError) as no_id:
            await client.submit(OGG)
        status = await client.get_operation("a/b?c")
    assert caught.value.kind is ErrorKind.RETRYABLE
    assert (no_id.value.kind, no_id.value.message) == (
        ErrorKind.RETRYABLE,
        "submit: the answer has no operation id",
    )
    assert no_id.value.client_request_id == seen[1].headers["x-client-request-id"]
    assert status == OperationStatus(id="op1", done=False)
    assert [r.raw_path for r in seen] == [
        "/speech/stt/v2/longRunningRecognize",
        "/speech/stt/v2/longRunningRecognize",
        "/operations/a%2Fb%3Fc",
    ]
    assert [r.headers["Authorization"] for r in seen] == ["Bearer t1", "Bearer t2", "Bearer t3"]
    ids = [uuid.UUID(r.headers["x-client-request-id"]) for r in seen]
    assert len(set(ids)) == 3
    assert all(r.headers["x-data-logging-enabled"] == "true" for r in seen)


# -- against the emulator -------------------------------------------------------------------


async def _upload(s3: S3Server, bucket: str, name: str) -> str:
    return await upload_file(s3, bucket, DATA / name)


def _client(
    session: aiohttp.ClientSession,
    emu: RunningEmulator,
    auth: dict[str, str] | Callable[[], dict[str, str]] = AUTH_HEADERS,
) -> V2Client:
    return V2Client(session, emu.url, emu.url, auth, 10.0)


async def test_submit_poll_fetch(
    s3_server: S3Server, s3_bucket: str, session: aiohttp.ClientSession
) -> None:
    uri = await _upload(s3_server, s3_bucket, "tone-stereo.ogg")
    async with emulator(s3_server) as emu:
        client = _client(session, emu, lambda: {"Authorization": f"Bearer {TEST_IAM_TOKEN}"})
        assert isinstance(client, RecognitionClient)
        submitted = await client.submit(SubmitRequest(audio_uri=uri, encoding="OGG_OPUS"))
        op_id = submitted.operation_id
        status = await operation_done(client, op_id)
        transcript = client.result_of(status)
        # Without a status (after a restart) the client reads the operation again.
        again = await client.fetch_result(op_id)
    assert submitted.request_id
    assert status.id == op_id
    assert status.error is None
    assert transcript is not None
    assert transcript == again
    assert transcript.channels == (1, 2)
    # A transcript survives the result cache's JSON whole.
    assert Transcript.from_dict(json.loads(json.dumps(transcript.to_dict()))) == transcript
    words = [w for u in transcript.utterances for w in u.words]
    assert words
    assert words[0].text == EMULATED_MARK
    assert all(0 <= w.start <= w.end for w in words)
    assert transcript.raw == status.response


async def test_lpcm_submission_is_accepted(
    s3_server: S3Server, s3_bucket: str, session: aiohttp.ClientSession
) -> None:
    uri = await _upload(s3_server, s3_bucket, "tone-48k-mono.raw")
    request = SubmitRequest(audio_uri=uri, encoding="LINEAR16_PCM", sample_rate=48000)
    async with emulator(s3_server) as emu:
        client = _client(session, emu)
        op_id = (await client.submit(request)).operation_id
        transcript = client.result_of(await operation_done(client, op_id))
    assert transcript is not None
    assert transcript.channels == (1,)
    assert transcript.utterances


async def test_bad_key_is_auth(s3_server: S3Server, session: aiohttp.ClientSession) -> None:
    bad = "definitely-not-the-key"
    async with emulator(s3_server) as emu:
        client = _client(session, emu, {"Authorization": f"Api-Key {bad}"})
        with pytest.raises(SpeechKitError) as caught:
            await client.submit(OGG)
    err = caught.value
    assert (err.kind, err.http_status, err.grpc_code) == (ErrorKind.AUTH, 401, 16)
    assert "not authenticated" in err.message
    assert err.request_id
    assert bad not in str(err)


async def test_validation_error_is_permanent_with_the_service_message(
    s3_server: S3Server, session: aiohttp.ClientSession
) -> None:
    request = SubmitRequest(audio_uri=OGG.audio_uri, encoding="LINEAR16_PCM", sample_rate=44100)
    async with emulator(s3_server) as emu:
        with pytest.raises(SpeechKitError) as caught:
            await _client(session, emu).submit(request)
    err = caught.value
    assert (err.kind, err.http_status, err.grpc_code) == (ErrorKind.PERMANENT, 400, 3)
    assert "sampleRateHertz: 44100 is not one of" in err.message


async def test_unknown_operation_is_not_found(
    s3_server: S3Server, session: aiohttp.ClientSession
) -> None:
    async with emulator(s3_server) as emu:
        with pytest.raises(SpeechKitError) as caught:
            await _client(session, emu).get_operation("e03nosuchoperation")
    assert (caught.value.kind, caught.value.http_status) == (ErrorKind.NOT_FOUND, 404)


async def test_submit_past_the_quota_is_quota_with_retry_after(
    s3_server: S3Server, s3_bucket: str, session: aiohttp.ClientSession
) -> None:
    request = SubmitRequest(audio_uri=f"{STORAGE_URL}/{s3_bucket}/a.ogg", encoding="OGG_OPUS")
    # The real service documents no Retry-After; the emulator sends one when asked to.
    async with emulator(s3_server, submit_quota=1, quota_window_s=600.0, retry_after=True) as emu:
        client = _client(session, emu)
        assert await client.submit(request)  # the one submission the quota allows
        with pytest.raises(SpeechKitError) as caught:
            await client.submit(request)
    err = caught.value
    assert (err.kind, err.http_status, err.grpc_code) == (ErrorKind.QUOTA, 429, 8)
    assert err.retry_after is not None
    assert 0 < err.retry_after <= 600


async def test_server_error_is_retryable(
    s3_server: S3Server, session: aiohttp.ClientSession
) -> None:
    async with emulator(s3_server, error_5xx_rate=1.0) as emu:
        with pytest.raises(SpeechKitError) as caught:
            await _client(session, emu).get_operation("op")
    err = caught.value
    assert err.kind is ErrorKind.RETRYABLE
    assert err.http_status in (500, 503)
    assert "emulated fault" in err.message


async def test_connection_reset_is_retryable(
    s3_server: S3Server, session: aiohttp.ClientSession
) -> None:
    async with emulator(s3_server, reset_rate=1.0) as emu:
        with pytest.raises(SpeechKitError) as caught:
            await _client(session, emu).submit(OGG)
    assert caught.value.kind is ErrorKind.RETRYABLE
    assert caught.value.http_status is None


async def test_failed_operation_is_permanent(
    s3_server: S3Server, s3_bucket: str, session: aiohttp.ClientSession
) -> None:
    missing = f"{STORAGE_URL}/{s3_bucket}/audio/missing.ogg"
    async with emulator(s3_server) as emu:
        client = _client(session, emu)
        submitted = await client.submit(SubmitRequest(audio_uri=missing, encoding="OGG_OPUS"))
        status = await operation_done(client, submitted.operation_id)
        with pytest.raises(SpeechKitError) as caught:
            client.result_of(status)
    assert status.done
    assert status.error is not None
    assert caught.value.kind is ErrorKind.PERMANENT
    assert caught.value.message == status.error.message


async def test_wrong_submit_url_is_permanent_not_expired(
    s3_server: S3Server, session: aiohttp.ClientSession
) -> None:
    async with emulator(s3_server) as emu:
        client = V2Client(session, emu.url + "/nowhere", emu.url, AUTH_HEADERS, 10.0)
        with pytest.raises(SpeechKitError) as caught:
            await client.submit(OGG)
    assert (caught.value.kind, caught.value.http_status) == (ErrorKind.PERMANENT, 404)
