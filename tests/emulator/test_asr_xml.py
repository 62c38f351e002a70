"""The legacy synchronous asr_xml API over real HTTP: formats, streaming, limits, errors."""

from __future__ import annotations

import io
import math
import struct
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree

import aiohttp
import pytest
from multidict import CIMultiDictProxy

from orchestrator.core.constants import ASR_XML_PATH
from orchestrator.emulator import EMULATED_MARK, RunningEmulator
from tests.conftest import S3Server
from tests.emulator.helpers import MONO_MP3, STEREO_OGG, assert_error, sine_lpcm
from tests.support.emulator import TEST_API_KEY, TEST_IAM_TOKEN, emulator
from tests.support.wavs import wav_bytes

USER = "01ae13cb744628b58fb536d496daa1e6"
MB = 1024 * 1024
PCM16 = "audio/x-pcm;bit=16;rate=16000"


def asr_url(base: str, **params: str) -> str:
    """The asr_xml URL with the documented parameters; ``params`` override or add (``""``
    drops one)."""
    query = {"uuid": USER, "key": TEST_API_KEY, "topic": "queries", **params}
    return f"{base}{ASR_XML_PATH}?{urlencode({k: v for k, v in query.items() if v != ''})}"


def _alaw_tone(seconds: float) -> bytes:
    # Any byte is a valid A-law sample; a varying pattern is not silence.
    return bytes((int(100 * math.sin(i / 5)) & 0xFF) for i in range(int(8000 * seconds)))


def parse(text: str) -> tuple[str, list[tuple[float, str]]]:
    """The success attribute and the (confidence, text) variants of an answer."""
    root = ElementTree.fromstring(text)
    assert root.tag == "recognitionResults"
    variants = [(float(v.attrib["confidence"]), v.text or "") for v in root]
    assert all(child.tag == "variant" for child in root)
    return root.attrib["success"], variants


async def post(
    session: aiohttp.ClientSession, url: str, body: Any, content_type: str | None = PCM16
) -> tuple[int, Any, CIMultiDictProxy[str]]:
    """POST audio; the status, the parsed answer (XML variants or JSON error), the headers."""
    headers = {"Content-Type": content_type} if content_type else {}
    skip = () if content_type else ("Content-Type",)
    if isinstance(body, bytes):
        # A file-like body still goes with Content-Length, without blocking the loop.
        body = io.BytesIO(body)
    async with session.post(url, data=body, headers=headers, skip_auto_headers=skip) as answer:
        if answer.status == 200:
            assert answer.headers["Content-Type"] == "text/xml; charset=utf-8"
            return 200, parse(await answer.text()), answer.headers
        return answer.status, await answer.json(), answer.headers


@pytest.mark.parametrize(
    ("content_type", "body", "seconds"),
    [
        pytest.param("audio/x-wav", wav_bytes(sine_lpcm(1.0, 16000, 2), 16000, 2), 1.0, id="wav"),
        pytest.param("audio/x-mpeg-3", MONO_MP3.read_bytes(), 2.09, id="mp3"),
        pytest.param("audio/ogg;codecs=opus", STEREO_OGG.read_bytes(), 3.0, id="ogg"),
        pytest.param(PCM16, sine_lpcm(1.5, 16000, 1), 1.5, id="pcm16k"),
        pytest.param("audio/x-pcm;bit=16;rate=8000", sine_lpcm(2.0, 8000, 1), 2.0, id="pcm8k"),
        pytest.param("audio/x-alaw;bit=13;rate=8000", _alaw_tone(1.0), 1.0, id="alaw"),
        pytest.param("Audio/OGG; Codecs=opus", STEREO_OGG.read_bytes(), 3.0, id="spelling"),
        pytest.param("audio/x-pcm;rate=16000;bit=16", sine_lpcm(1.0, 16000, 1), 1.0, id="order"),
    ],
)
async def test_each_decodable_format_is_recognised(
    emu: RunningEmulator,
    session: aiohttp.ClientSession,
    content_type: str,
    body: bytes,
    seconds: float,
) -> None:
    status, (success, variants), headers = await post(session, asr_url(emu.url), body, content_type)
    assert (status, success) == (200, "1")
    assert 1 <= len(variants) <= 5
    confidences = [confidence for confidence, _ in variants]
    assert confidences == sorted(confidences, reverse=True)
    assert variants[0][1].startswith(EMULATED_MARK)
    assert headers["X-YaUuid"] == USER
    assert headers["X-YaRequestId"]
    assert float(headers["X-YaReqFinish"]) > 0
    assert headers["x-request-id"]
    (call,) = emu.stats()["asr_xml"]["calls"]
    assert call["audio_seconds"] == pytest.approx(seconds, abs=0.05)
    assert (call["chunked"], call["success"], call["bytes"]) == (False, True, len(body))


async def _chunks(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_chunked_audio_may_exceed_one_megabyte(
    emu: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    audio = sine_lpcm(40.0, 16000, 1)  # 1.28 MB
    assert len(audio) > MB
    status, (success, _), _ = await post(session, asr_url(emu.url), _chunks(audio))
    assert (status, success) == (200, "1")
    (call,) = emu.stats()["asr_xml"]["calls"]
    assert (call["chunked"], call["bytes"]) == (True, len(audio))
    assert call["audio_seconds"] == pytest.approx(40.0)


async def test_content_length_is_limited_to_one_megabyte(
    emu: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    status, (success, _), _ = await post(session, asr_url(emu.url), b"\x01\x00" * (MB // 2))
    assert (status, success) == (200, "1")
    status, payload, headers = await post(session, asr_url(emu.url), b"\x01\x00" * (MB // 2 + 1))
    assert status == 413
    assert_error(payload, 3, headers)
    assert "send it chunked" in payload["message"]


async def test_chunked_body_over_the_limit_is_refused(
    s3_server: S3Server, session: aiohttp.ClientSession
) -> None:
    async with emulator(s3_server, asr_xml_max_stream_bytes=100_000) as emu:
        status, payload, _ = await post(session, asr_url(emu.url), _chunks(bytes(200_000), 10_000))
        assert (status, payload["code"]) == (413, 3)
        assert emu.stats()["asr_xml"]["calls"] == []


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        pytest.param(PCM16, bytes(32000), id="silent pcm"),
        pytest.param("audio/x-wav", wav_bytes(bytes(16000), 8000, 1), id="silent wav"),
        pytest.param("audio/x-alaw;bit=13;rate=8000", b"\xd5\x55" * 4000, id="silent alaw"),
        pytest.param("audio/x-mpeg-3", b"this is not an mp3 file at all", id="undecodable"),
        pytest.param("audio/x-wav", MONO_MP3.read_bytes(), id="mp3 sent as wav"),
        pytest.param(PCM16, b"", id="empty"),
    ],
)
async def test_nothing_to_recognise_is_success_0(
    emu: RunningEmulator, session: aiohttp.ClientSession, content_type: str, body: bytes
) -> None:
    status, (success, variants), _ = await post(session, asr_url(emu.url), body, content_type)
    assert (status, success, variants) == (200, "0", [])
    assert emu.stats()["asr_xml"]["unrecognised"] == 1


async def test_injected_failures_are_success_0(
    s3_server: S3Server, session: aiohttp.ClientSession
) -> None:
    async with emulator(s3_server, op_error_rate=1.0) as emu:
        status, (success, _), _ = await post(session, asr_url(emu.url), sine_lpcm(1, 16000, 1))
    assert (status, success) == (200, "0")


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        pytest.param({"key": ""}, 400, 16, id="no key"),
        pytest.param({"key": "wrong"}, 400, 16, id="wrong key"),
        pytest.param({"key": TEST_IAM_TOKEN}, 400, 16, id="IAM token as key"),
        pytest.param({"key": "locked-key"}, 423, 7, id="locked key"),
    ],
)
async def test_the_key_is_checked(
    s3_server: S3Server,
    session: aiohttp.ClientSession,
    params: dict[str, str],
    status: int,
    code: int,
) -> None:
    async with emulator(s3_server, asr_xml_locked_keys=("locked-key",)) as emu:
        answer = await post(session, asr_url(emu.url, **params), sine_lpcm(1, 16000, 1))
        assert answer[0] == status
        assert_error(answer[1], code, answer[2])
        assert "wrong" not in answer[1]["message"]
        assert emu.stats()["asr_xml"]["calls"] == []


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        pytest.param({"uuid": ""}, "uuid: '' is not 32", id="no uuid"),
        pytest.param({"uuid": USER[:-1]}, "uuid:", id="31 digits"),
        pytest.param({"uuid": "z" * 32}, "uuid:", id="not hex"),
        pytest.param({"uuid": "01ae13cb-7446-28b5-8fb5-36d496daa1e6"}, "uuid:", id="dashes"),
        pytest.param({"topic": ""}, "topic: '' is not one of", id="no topic"),
        pytest.param({"topic": "weather"}, "topic: 'weather'", id="unknown topic"),
        pytest.param({"lang": "de-DE"}, "lang: 'de-DE'", id="unknown lang"),
        pytest.param({"disableAntimat": "yes"}, "disableAntimat: 'yes'", id="antimat"),
    ],
)
async def test_bad_parameters_are_400(
    emu: RunningEmulator, session: aiohttp.ClientSession, params: dict[str, str], fragment: str
) -> None:
    status, payload, headers = await post(session, asr_url(emu.url, **params), b"\x01\x00")
    assert status == 400
    assert_error(payload, 3, headers)
    assert fragment in payload["message"]


@pytest.mark.parametrize(
    ("content_type", "status", "fragment"),
    [
        pytest.param(None, 400, "Content-Type: required", id="missing"),
        pytest.param("audio/flac", 400, "is not one of", id="unknown"),
        pytest.param("audio/x-pcm;bit=16;rate=44100", 400, "is not one of", id="rate"),
        pytest.param("audio/x-speex", 415, "cannot decode", id="speex"),
        pytest.param("audio/webm;codecs=opus", 415, "cannot decode", id="webm"),
    ],
)
async def test_content_type_is_required_and_checked(
    emu: RunningEmulator,
    session: aiohttp.ClientSession,
    content_type: str | None,
    status: int,
    fragment: str,
) -> None:
    answer = await post(session, asr_url(emu.url), b"\x01\x00" * 100, content_type)
    assert answer[0] == status
    assert_error(answer[1], 3, answer[2])
    assert fragment in answer[1]["message"]


async def test_asr_xml_has_its_own_request_rate(
    s3_server: S3Server, session: aiohttp.ClientSession
) -> None:
    async with emulator(s3_server, asr_xml_quota=2, asr_xml_window_s=60) as emu:
        for _ in range(2):
            status, _, _ = await post(session, asr_url(emu.url), sine_lpcm(0.2, 16000, 1))
            assert status == 200
        status, payload, headers = await post(session, asr_url(emu.url), sine_lpcm(0.2, 16000, 1))
        assert status == 429
        assert_error(payload, 8, headers)
        quota = emu.stats()["quotas"]["asr_xml"]
        assert (quota["accepted"], quota["throttled"], quota["max_in_window"]) == (2, 1, 3)
        requests = emu.stats()["requests_by_api"]["asr_xml"][f"POST {ASR_XML_PATH}"]
        assert requests == {"200": 2, "429": 1}


async def test_profanity_is_removed_unless_disable_antimat(
    emu: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    # 32 s of quiet 16 kHz speech: long enough for the synthetic "profane" word.
    audio = struct.pack("<h", 3) * (32 * 16000)
    _, (_, filtered), _ = await post(session, asr_url(emu.url), audio)
    _, (_, raw), _ = await post(session, asr_url(emu.url, disableAntimat="true"), audio)
    assert "блин" in raw[0][1]
    assert "блин" not in filtered[0][1]
    assert "*" not in filtered[0][1]
    _, (_, english), _ = await post(session, asr_url(emu.url, lang="en-US"), audio)
    assert english[0][1].isascii()
