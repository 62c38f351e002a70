"""The v3 client against the emulator over real HTTP: submit, the Operation, getRecognition
(NDJSON, refinements, speaker labels), deleteRecognition, and its failures."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from orchestrator.core.transcript import Transcript
from orchestrator.emulator import EMULATED_MARK, RunningEmulator
from orchestrator.speechkit import (
    ErrorKind,
    OperationStatus,
    RecognitionClient,
    SpeechKitError,
    SubmitRequest,
    V3Client,
)
from tests.conftest import S3Server
from tests.support.emulator import AUTH_HEADERS, emulator
from tests.support.storage import upload_file
from tests.support.waiting import operation_done
from tests.support.wavs import silent_wav

DATA = Path(__file__).resolve().parent.parent / "data"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "audio"


def _client(session: aiohttp.ClientSession, emu: RunningEmulator) -> V3Client:
    return V3Client(session, emu.url, emu.url, AUTH_HEADERS, 10.0)


async def _recognise(
    client: V3Client, request: SubmitRequest, *, speakers: bool = False
) -> tuple[OperationStatus, Transcript]:
    submitted = await client.submit(request)
    status = await operation_done(client, submitted.operation_id)
    assert client.result_of(status) is None  # the Operation carries no transcript
    return status, await client.fetch_result(submitted.operation_id, speaker_labeling=speakers)


async def test_stereo_container_channels_and_times(
    s3_server: S3Server, s3_bucket: str, session: aiohttp.ClientSession
) -> None:
    uri = await upload_file(s3_server, s3_bucket, DATA / "tone-stereo.ogg")
    async with emulator(s3_server) as emu:
        client = _client(session, emu)
        assert isinstance(client, RecognitionClient)
        status, transcript = await _recognise(
            client, SubmitRequest(audio_uri=uri, encoding="OGG_OPUS", channels=2)
        )
        stats = emu.stats()
    assert status.error is None
    # v3 counts channels from "0"; the transcript, as v2, from 1.
    assert transcript.channels == (1, 2)
    words = [w for u in transcript.utterances for w in u.words]
    assert words[0].text == EMULATED_MARK
    assert all(0 <= w.start <= w.end <= 1.0 for w in words)
    assert not transcript.speakers
    # Every line of the answer is kept, and the transcript survives the result cache.
    assert isinstance(transcript.raw, list)
    assert all("result" in line for line in transcript.raw)
    assert Transcript.from_dict(json.loads(json.dumps(transcript.to_dict()))) == transcript
    # The operation GETs and getRecognition all spent v3's status quota.
    operation = stats["operations"][status.id]
    assert operation["result_fetches"] == 1
    assert stats["quotas"]["v3_status"]["accepted"] == operation["status_checks"]
    assert stats["quotas"]["status"]["accepted"] == 0


async def test_a_wav_goes_up_as_raw_lpcm_with_its_rate_and_channels(
    s3_server: S3Server, s3_bucket: str, session: aiohttp.ClientSession
) -> None:
    # The daemon uploads a WAV file's samples without the header (one object for v2 and v3).
    uri = await upload_file(s3_server, s3_bucket, DATA / "tone-8k-stereo.wav", offset=44)
    request = SubmitRequest(uri, "LINEAR16_PCM", sample_rate=8000, channels=2)
    async with emulator(s3_server) as emu:
        _, transcript = await _recognise(_client(session, emu), request)
    assert transcript.channels == (1, 2)
    assert {u.channel for u in transcript.utterances} == {1, 2}


async def test_normalisation_replaces_each_final_by_its_refinement(
    s3_server: S3Server, s3_bucket: str, session: aiohttp.ClientSession
) -> None:
    uri = await upload_file(s3_server, s3_bucket, EXAMPLES / "podcast-mono.mp3")
    plain = SubmitRequest(uri, "MP3", language="en-US")
    async with emulator(s3_server) as emu:
        client = _client(session, emu)
        _, raw = await _recognise(client, plain)
        _, refined = await _recognise(client, replace(plain, literature_text=True))
    assert len(raw.utterances) == len(refined.utterances) > 1
    # Normalised text: each sentence ends with a full stop (the emulator's literature text).
    assert all(u.text.endswith(".") for u in refined.utterances)
    assert not any(u.text.endswith(".") for u in raw.utterances)
    # Paired final by final: the same spans, in the same order.
    assert [(u.start, u.end) for u in raw.utterances] == [
        (u.start, u.end) for u in refined.utterances
    ]


@pytest.mark.parametrize("layout", ["lines", "pretty", "packed"])
async def test_a_long_stereo_recording_in_any_layout_pairs_every_final_with_its_refinement(
    s3_server: S3Server, s3_bucket: str, session: aiohttp.ClientSession, tmp_path: Path, layout: str
) -> None:
    # Three minutes of 8 kHz stereo: a few dozen finals per channel, each refined.
    path = tmp_path / "long.raw"
    path.write_bytes(b"\x01\x00\x02\x00" * (180 * 8000))
    uri = await upload_file(s3_server, s3_bucket, path)
    request = SubmitRequest(uri, "LINEAR16_PCM", sample_rate=8000, channels=2)
    async with emulator(s3_server, v3_stream_layout=layout) as emu:
        client = _client(session, emu)
        _, raw = await _recognise(client, request)
        status, refined = await _recognise(client, replace(request, literature_text=True))
        stats = emu.stats()
    # The client asks as the documentation's curl does: getRecognition?operation_id=...
    assert stats["operations"][status.id]["result_params"] == ["operation_id"]
    finals = [line["result"] for line in refined.raw if "final" in line["result"]]
    refinements = [line for line in refined.raw if "finalRefinement" in line["result"]]
    assert len(finals) == len(refinements) == len(refined.utterances)
    for channel in (1, 2):
        plain = [u for u in raw.utterances if u.channel == channel]
        normal = [u for u in refined.utterances if u.channel == channel]
        assert len(plain) == len(normal) > 10
        assert all(u.text.endswith(".") for u in normal)
        assert any(ch.isdigit() for u in normal for ch in u.text)
        assert not any(ch.isdigit() for u in plain for ch in u.text)
        # Each utterance spans its words, first to last.
        for utterance in normal:
            assert utterance.start == utterance.words[0].start
            assert utterance.end == utterance.words[-1].end
        assert [u.start for u in normal] == sorted(u.start for u in normal)


async def test_speaker_labels_on_mono_audio(
    s3_server: S3Server, s3_bucket: str, session: aiohttp.ClientSession
) -> None:
    uri = await upload_file(s3_server, s3_bucket, EXAMPLES / "podcast-mono.mp3")
    request = SubmitRequest(uri, "MP3", speaker_labeling=True)
    async with emulator(s3_server) as emu:
        _, transcript = await _recognise(_client(session, emu), request, speakers=True)
    # The channel tags are speakers: one audio channel, two speakers.
    assert transcript.channels == (1,)
    assert {u.channel for u in transcript.utterances} == {1}
    assert set(transcript.speakers) == {"Speaker 1", "Speaker 2"}
    for utterance in transcript.utterances:
        assert utterance.speaker in transcript.speakers
        assert all(w.speaker == utterance.speaker for w in utterance.words)


async def test_language_auto_and_a_list(
    s3_server: S3Server, s3_bucket: str, session: aiohttp.ClientSession
) -> None:
    uri = await upload_file(s3_server, s3_bucket, DATA / "tone-mono.ogg")
    async with emulator(s3_server) as emu:
        client = _client(session, emu)
        for language in ("auto", ("en-US", "ru-RU")):
            _, transcript = await _recognise(
                client, SubmitRequest(uri, "OGG_OPUS", language=language)
            )
            assert transcript.utterances


async def test_silence_gives_an_empty_transcript(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, session: aiohttp.ClientSession
) -> None:
    uri = await upload_file(s3_server, s3_bucket, silent_wav(tmp_path / "s.wav", 2.0), offset=44)
    async with emulator(s3_server) as emu:
        _, transcript = await _recognise(
            _client(session, emu), SubmitRequest(uri, "LINEAR16_PCM", sample_rate=16000)
        )
    assert transcript.empty
    assert transcript.raw  # the statusCode lines, kept


async def test_results_before_done_and_after_deletion_are_not_found(
    s3_server: S3Server, s3_bucket: str, session: aiohttp.ClientSession
) -> None:
    uri = await upload_file(s3_server, s3_bucket, DATA / "tone-mono.ogg")
    async with emulator(s3_server, speed=1.0) as emu:
        client = _client(session, emu)
        submitted = await client.submit(SubmitRequest(uri, "OGG_OPUS"))
        with pytest.raises(SpeechKitError) as early:
            await client.fetch_result(submitted.operation_id)
    assert (early.value.kind, early.value.http_status) == (ErrorKind.NOT_FOUND, 404)
    async with emulator(s3_server) as emu:
        client = _client(session, emu)
        status, _ = await _recognise(client, SubmitRequest(uri, "OGG_OPUS"))
        await client.delete_result(status.id)
        with pytest.raises(SpeechKitError) as gone:
            await client.fetch_result(status.id)
        # The Operation itself stays readable.
        assert (await client.get_operation(status.id)).done
        assert emu.stats()["operations"][status.id]["results_deleted"]
    assert gone.value.kind is ErrorKind.NOT_FOUND


async def test_a_refused_request_carries_both_request_ids(
    s3_server: S3Server, session: aiohttp.ClientSession
) -> None:
    request = SubmitRequest("https://example.com/not/storage.ogg", "OGG_OPUS")
    async with emulator(s3_server) as emu:
        with pytest.raises(SpeechKitError) as caught:
            await _client(session, emu).submit(request)
    err = caught.value
    assert (err.kind, err.http_status, err.grpc_code) == (ErrorKind.PERMANENT, 400, 3)
    assert err.request_id
    assert err.client_request_id
    assert err.ids() == {"client_request_id": err.client_request_id, "request_id": err.request_id}


async def test_wrong_submit_url_is_permanent_not_expired(
    s3_server: S3Server, session: aiohttp.ClientSession
) -> None:
    request = SubmitRequest("https://storage.yandexcloud.net/b/k.ogg", "OGG_OPUS")
    async with emulator(s3_server) as emu:
        client = V3Client(session, emu.url + "/nowhere", emu.url, AUTH_HEADERS, 10.0)
        with pytest.raises(SpeechKitError) as caught:
            await client.submit(request)
    assert (caught.value.kind, caught.value.http_status) == (ErrorKind.PERMANENT, 404)


async def test_a_failed_operation_raises_its_error(
    s3_server: S3Server, s3_bucket: str, session: aiohttp.ClientSession
) -> None:
    missing = f"https://storage.yandexcloud.net/{s3_bucket}/missing.ogg"
    async with emulator(s3_server) as emu:
        client = _client(session, emu)
        submitted = await client.submit(SubmitRequest(missing, "OGG_OPUS"))
        status = await operation_done(client, submitted.operation_id)
        with pytest.raises(SpeechKitError) as caught:
            client.result_of(status)
        with pytest.raises(SpeechKitError) as fetched:
            await client.fetch_result(status.id)
    assert status.error is not None
    assert caught.value.grpc_code == status.error.code == 5
    assert fetched.value.grpc_code == 5


async def test_status_checks_past_five_a_second_are_refused(
    s3_server: S3Server, session: aiohttp.ClientSession
) -> None:
    async with emulator(s3_server, v3_status_quota=2, v3_status_window_s=600.0) as emu:
        client = _client(session, emu)
        for _ in range(2):
            with pytest.raises(SpeechKitError) as missing:
                await client.fetch_result("f8dnosuchoperation")
            assert missing.value.kind is ErrorKind.NOT_FOUND
        with pytest.raises(SpeechKitError) as caught:
            await client.get_operation("f8dnosuchoperation")
    assert (caught.value.kind, caught.value.http_status) == (ErrorKind.QUOTA, 429)
    # No Retry-After by default, as the real service documents none.
    assert caught.value.retry_after is None
