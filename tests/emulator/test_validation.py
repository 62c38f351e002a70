"""Every validation error of POST /speech/stt/v2/longRunningRecognize, over real HTTP."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from orchestrator.core.constants import V2_SUBMIT_PATH
from orchestrator.emulator import RunningEmulator
from tests.emulator.helpers import assert_error, submit, v2_body
from tests.support.emulator import AUTH_HEADERS

URI = "https://storage.yandexcloud.net/bucket/audio.ogg"


def _spec(**spec: Any) -> dict[str, Any]:
    return v2_body(URI, **spec)


INVALID: list[tuple[str, Any, str]] = [
    ("unknown top-level field", {**_spec(), "foo": 1}, "unknown field foo"),
    (
        "unknown config field",
        {"config": {"specification": {}, "bar": 1}, "audio": {"uri": URI}},
        "unknown field config.bar",
    ),
    (
        "literature_text twice",
        _spec(literatureText=True, literature_text=False),
        "config.specification.literature_text: field given twice",
    ),
    ("unknown audio field", {"config": {}, "audio": {"url": URI}}, "unknown field audio.url"),
    ("body not an object", [1, 2], "request body: expected an object"),
    ("config not an object", {"config": [], "audio": {"uri": URI}}, "config: expected an object"),
    (
        "boolean as string",
        _spec(profanityFilter="yes"),
        "config.specification.profanityFilter: expected true or false",
    ),
    (
        "integer as text",
        _spec(audioEncoding="LINEAR16_PCM", sampleRateHertz="fast"),
        "config.specification.sampleRateHertz: expected an integer",
    ),
    ("integer as boolean", _spec(rawResults=1), "config.specification.rawResults"),
    ("model not a string", _spec(model=5), "config.specification.model: expected a string"),
    ("uri not a string", {"audio": {"uri": 5}}, "audio.uri: expected a string"),
    ("unknown encoding", _spec(audioEncoding="WAV"), "config.specification.audioEncoding"),
    ("unknown model", _spec(model="turbo"), "config.specification.model: unknown model"),
    ("unknown language", _spec(languageCode="xx-XX"), "config.specification.languageCode"),
    (
        "LPCM without rate",
        _spec(audioEncoding="LINEAR16_PCM"),
        "config.specification.sampleRateHertz: required for LINEAR16_PCM",
    ),
    (
        "rate not allowed",
        _spec(audioEncoding="LINEAR16_PCM", sampleRateHertz=44100),
        "config.specification.sampleRateHertz: 44100 is not one of",
    ),
    (
        "channels for Ogg",
        _spec(audioEncoding="OGG_OPUS", audioChannelCount=1),
        "config.specification.audioChannelCount: only for LINEAR16_PCM",
    ),
    (
        "channels for MP3",
        _spec(audioEncoding="MP3", audioChannelCount=2),
        "config.specification.audioChannelCount: only for LINEAR16_PCM",
    ),
    (
        "channels for default encoding",
        _spec(audioChannelCount=2),
        "config.specification.audioChannelCount",
    ),
    (
        "too many LPCM channels",
        _spec(audioEncoding="LINEAR16_PCM", sampleRateHertz=8000, audioChannelCount=9),
        "config.specification.audioChannelCount: 9 is not between",
    ),
    ("missing audio", {"config": {}}, "audio.uri: required"),
    ("missing uri", {"config": {}, "audio": {}}, "audio.uri: required"),
    ("inline content", {"audio": {"content": "AAAA"}}, "audio.content: not supported"),
    (
        "not a storage host",
        {"audio": {"uri": "https://example.com/bucket/a.ogg"}},
        "audio.uri: 'https://example.com/bucket/a.ogg' is not an Object Storage link",
    ),
    ("plain http", {"audio": {"uri": "http://storage.yandexcloud.net/b-1/a.ogg"}}, "audio.uri"),
    ("no key", {"audio": {"uri": "https://storage.yandexcloud.net/bucket"}}, "audio.uri"),
    ("s3 scheme", {"audio": {"uri": "s3://bucket/a.ogg"}}, "audio.uri"),
    (
        "field given twice",
        _spec(languageCode="ru-RU", language_code="ru-RU"),
        "given twice",
    ),
]


@pytest.mark.parametrize(
    ("body", "fragment"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
async def test_invalid_body_is_400_naming_the_field(
    emu: RunningEmulator, session: aiohttp.ClientSession, body: Any, fragment: str
) -> None:
    async with session.post(emu.url + V2_SUBMIT_PATH, json=body, headers=AUTH_HEADERS) as answer:
        payload = await answer.json()
        assert answer.status == 400
        assert answer.headers["x-request-id"]
        assert_error(payload, 3, answer.headers)
    assert fragment in payload["message"]
    assert emu.stats()["operations"] == {}


async def test_body_that_is_not_json_is_400(
    emu: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    async with session.post(
        emu.url + V2_SUBMIT_PATH, data=b"{not json", headers=AUTH_HEADERS
    ) as answer:
        payload = await answer.json()
        assert answer.status == 400
    assert payload["code"] == 3
    assert "not valid JSON" in payload["message"]
    async with session.post(
        emu.url + V2_SUBMIT_PATH, data=b"\xff\xfe{}", headers=AUTH_HEADERS
    ) as answer:
        payload = await answer.json()
        assert answer.status == 400
    assert "not UTF-8" in payload["message"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"audio": {"uri": URI}}, id="minimal: every default"),
        pytest.param(
            {
                "config": {
                    "specification": {
                        "languageCode": "ru-RU",
                        "model": "general",
                        "profanityFilter": False,
                        "literature_text": False,
                        "audioEncoding": "OGG_OPUS",
                        "sampleRateHertz": 48000,
                        "rawResults": False,
                    }
                },
                "audio": {"uri": URI},
            },
            id="the documented body",
        ),
        pytest.param(
            _spec(audio_encoding="LINEAR16_PCM", sample_rate_hertz="8000", audio_channel_count=2),
            id="proto names and int64 as a string",
        ),
        pytest.param(
            v2_body(URI + "?X-Amz-Signature=abc", model="deferred-general"),
            id="presigned query ignored",
        ),
        pytest.param(
            {
                "config": {"folderId": "b1g", "specification": {"model": None}},
                "audio": {"uri": URI},
            },
            id="folderId and null as absent",
        ),
        pytest.param(_spec(literatureText=True), id="literatureText beside literature_text"),
        pytest.param(
            _spec(language_code="EN-us", profanity_filter=True, raw_results=True),
            id="language case-insensitive, proto names",
        ),
    ],
)
async def test_valid_bodies_are_accepted(
    emu: RunningEmulator, session: aiohttp.ClientSession, body: Any
) -> None:
    operation = await submit(session, emu.url, body)
    assert operation["done"] is False
    assert set(operation) == {"done", "id", "createdAt", "createdBy", "modifiedAt"}
    assert operation["createdAt"].endswith("Z")
    assert operation["id"] in emu.stats()["operations"]
