"""The asr_xml client against the emulator over real HTTP: the file streamed chunked with
its real Content-Type, the XML variants, and the failures (success="0", keys, quota)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

import aiohttp
import pytest

from orchestrator.core.transcript import Transcript
from orchestrator.emulator import EMULATED_MARK, RunningEmulator
from orchestrator.intake.audio import probe, read_range
from orchestrator.speechkit import (
    AsrXmlClient,
    ErrorKind,
    LocalAudio,
    RecognitionClient,
    RecognitionFailed,
    SpeechKitError,
    SubmitRequest,
)
from orchestrator.speechkit.asr_xml import parse_answer
from tests.conftest import S3Server
from tests.support.emulator import TEST_API_KEY, emulator

DATA = Path(__file__).resolve().parent.parent / "data"
UUID = "0123456789abcdef0123456789abcdef"


def _client(
    session: aiohttp.ClientSession, emu: RunningEmulator, key: str | None = TEST_API_KEY
) -> AsrXmlClient:
    return AsrXmlClient(session, emu.url, lambda: key, UUID, 10.0)


def _request(path: Path, **fields: object) -> SubmitRequest:
    """The request the pipeline would make for a local file (raw LPCM: at ``sample_rate``)."""
    rate = fields.get("sample_rate")
    if path.suffix == ".pcm":
        assert isinstance(rate, int)
        facts = probe(path, encoding="LINEAR16_PCM", sample_rate=rate)
    else:
        facts = probe(path)
    local = LocalAudio(
        facts.container,
        facts.size_bytes,
        facts.data_offset,
        facts.data_length,
        partial(read_range, path, chunk_size=1024),
    )
    values: dict[str, object] = {
        "audio_uri": None,
        "encoding": facts.encoding,
        "sample_rate": facts.sample_rate if facts.encoding == "LINEAR16_PCM" else None,
        "channels": facts.channels,
        "model": "queries",
        "local": local,
        **fields,
    }
    return SubmitRequest(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("tone-mono.ogg", "audio/ogg;codecs=opus"),
        ("tone-mono.mp3", "audio/x-mpeg-3"),
        ("tone-16k-mono.wav", "audio/x-wav"),  # the whole file: its header tells the format
        ("tone-8k-stereo.wav", "audio/x-wav"),  # heard as mono by the service
    ],
)
async def test_each_format_is_streamed_chunked_with_its_content_type(
    s3_server: S3Server, session: aiohttp.ClientSession, name: str, content_type: str
) -> None:
    path = DATA / name
    async with emulator(s3_server) as emu:
        client = _client(session, emu)
        assert isinstance(client, RecognitionClient)
        submitted = await client.submit(_request(path, language="en-US"))
        stats = emu.stats()
    (call,) = stats["asr_xml"]["calls"]
    assert call["chunked"] is True
    assert call["content_type"] == content_type
    assert call["bytes"] == path.stat().st_size
    assert (call["uuid"], call["topic"], call["lang"]) == (UUID, "queries", "en-US")
    transcript = submitted.transcript
    assert transcript is not None
    assert transcript.channels == (1,)
    (utterance,) = transcript.utterances
    assert utterance.text.split()[0] == EMULATED_MARK
    assert not utterance.words  # no timings
    # The best variant is the text; all of them, best first, are kept.
    variants = transcript.raw["variants"]
    assert variants[0]["text"] == utterance.text
    assert 1 <= len(variants) <= 5
    assert Transcript.from_dict(transcript.to_dict()) == transcript
    assert submitted.operation_id  # the service's X-YaRequestId names the recognition


async def test_raw_lpcm_at_16_khz_is_audio_x_pcm(
    tmp_path: Path, s3_server: S3Server, session: aiohttp.ClientSession
) -> None:
    raw = tmp_path / "tone.pcm"
    raw.write_bytes((DATA / "tone-16k-mono.wav").read_bytes()[44:])
    facts = probe(raw, encoding="LINEAR16_PCM", sample_rate=16000)
    high = tmp_path / "tone48.pcm"
    high.write_bytes((DATA / "tone-48k-mono.raw").read_bytes())
    async with emulator(s3_server) as emu:
        await _client(session, emu).submit(_request(raw, sample_rate=16000))
        # 48 kHz raw LPCM has no Content-Type: refused before anything is sent.
        with pytest.raises(SpeechKitError) as caught:
            await _client(session, emu).submit(_request(high, sample_rate=48000))
        (call,) = emu.stats()["asr_xml"]["calls"]
    assert call["content_type"] == "audio/x-pcm;bit=16;rate=16000"
    assert call["bytes"] == facts.data_length
    assert caught.value.kind is ErrorKind.PERMANENT
    assert "mono 8000 or 16000 Hz only" in caught.value.message


async def test_profanity_and_topic_are_passed_on(
    s3_server: S3Server, session: aiohttp.ClientSession
) -> None:
    async with emulator(s3_server) as emu:
        client = _client(session, emu)
        await client.submit(_request(DATA / "tone-mono.ogg", model="numbers"))
        await client.submit(_request(DATA / "tone-mono.ogg", profanity_filter=True))
        calls = emu.stats()["asr_xml"]["calls"]
    assert [c["topic"] for c in calls] == ["numbers", "queries"]


async def test_nothing_recognised_fails_the_recognition(
    tmp_path: Path, s3_server: S3Server, session: aiohttp.ClientSession
) -> None:
    silent = tmp_path / "silence.pcm"
    silent.write_bytes(b"\0\0" * 16000)
    async with emulator(s3_server) as emu:
        with pytest.raises(RecognitionFailed) as caught:
            await _client(session, emu).submit(_request(silent, sample_rate=16000))
    assert 'success="0"' in caught.value.message
    assert caught.value.client_request_id


async def test_keys_and_quota(s3_server: S3Server) -> None:
    request = _request(DATA / "tone-mono.ogg")
    # The client's connections close before the emulator does: a body refused unread would
    # otherwise keep the server lingering for it (aiohttp's 10 s) when it shuts down.
    async with (
        emulator(
            s3_server, asr_xml_locked_keys=("locked-key",), asr_xml_quota=1, asr_xml_window_s=600.0
        ) as emu,
        aiohttp.ClientSession() as session,
    ):
        with pytest.raises(SpeechKitError) as unknown:
            await _client(session, emu, "wrong-key").submit(request)
        with pytest.raises(SpeechKitError) as locked:
            await _client(session, emu, "locked-key").submit(request)
        with pytest.raises(SpeechKitError) as no_key:
            await _client(session, emu, None).submit(request)
        await _client(session, emu).submit(request)  # the one the quota allows
        with pytest.raises(SpeechKitError) as throttled:
            await _client(session, emu).submit(request)
    assert (unknown.value.kind, unknown.value.http_status) == (ErrorKind.PERMANENT, 400)
    assert "wrong-key" not in str(unknown.value)
    assert (locked.value.kind, locked.value.http_status) == (ErrorKind.PERMANENT, 423)
    assert "IAM token" in no_key.value.message
    assert (throttled.value.kind, throttled.value.http_status) == (ErrorKind.QUOTA, 429)
    assert throttled.value.client_request_id


async def test_a_file_that_cannot_be_read_midway_is_reported(
    s3_server: S3Server, session: aiohttp.ClientSession
) -> None:
    def failing(_offset: int, _length: int) -> Iterator[bytes]:
        yield b"OggS"
        raise OSError("the disk went away")

    request = _request(DATA / "tone-mono.ogg")
    assert request.local is not None
    broken = SubmitRequest(
        audio_uri=None,
        encoding="OGG_OPUS",
        model="queries",
        local=LocalAudio("ogg_opus", 100, 0, 100, failing),
    )
    async with emulator(s3_server) as emu:
        with pytest.raises(SpeechKitError) as caught:
            await _client(session, emu).submit(broken)
    assert caught.value.kind is ErrorKind.PERMANENT
    assert "reading the audio to send failed: the disk went away" in caught.value.message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'<?xml version="1.0"?><recognitionResults success="1"><variant confidence="0.9">'
            b'a b</variant><variant confidence="0.2">a</variant></recognitionResults>',
            (True, [(0.9, "a b"), (0.2, "a")]),
        ),
        (b'<recognitionResults success="0"/>', (False, [])),
        (
            b'<recognitionResults success="1"><variant>x</variant></recognitionResults>',
            (True, [(None, "x")]),
        ),
    ],
)
def test_parse_answer(body: bytes, expected: tuple[bool, list[tuple[float | None, str]]]) -> None:
    assert parse_answer(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        b"<html>502 Bad Gateway</html>",
        b"not xml",
        b'<!DOCTYPE r [<!ENTITY a "aaaa">]><recognitionResults success="1"/>',
    ],
)
def test_parse_answer_refuses_what_is_not_the_answer(body: bytes) -> None:
    with pytest.raises(ValueError, match="answer"):
        parse_answer(body)
