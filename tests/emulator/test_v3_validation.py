"""Every validation error of POST /stt/v3/recognizeFileAsync, in camelCase and snake_case."""

from __future__ import annotations

import base64
import re
from typing import Any

import aiohttp
import pytest

from orchestrator.core.constants import MAX_INLINE_BYTES, V3_SUBMIT_PATH
from orchestrator.emulator import RunningEmulator
from orchestrator.emulator.errors import ApiError
from orchestrator.emulator.v3_request import parse_request
from tests.emulator.helpers import assert_error, submit_v3
from tests.support.emulator import AUTH_HEADERS

URI = "https://storage.yandexcloud.net/bucket/audio.ogg"
CONTAINER = {"containerAudio": {"containerAudioType": "OGG_OPUS"}}
RAW = {"rawAudio": {"audioEncoding": "LINEAR16_PCM", "sampleRateHertz": 8000}}


def snake(value: Any) -> Any:
    """``value`` with every object key in snake_case (values untouched)."""
    if isinstance(value, dict):
        return {
            re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower(): snake(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [snake(item) for item in value]
    return value


def _body(audio_format: Any = CONTAINER, top: Any = None, **model: Any) -> dict[str, Any]:
    recognition: dict[str, Any] = {"model": "general", **model}
    if audio_format is not None:
        recognition["audioFormat"] = audio_format
    return {"uri": URI, "recognitionModel": recognition, **(top or {})}


def _raw(**fields: Any) -> dict[str, Any]:
    return {"rawAudio": {**RAW["rawAudio"], **fields}}


INVALID: list[tuple[str, Any, str]] = [
    ("body not an object", [1], "request body: expected an object"),
    ("unknown top-level field", _body(top={"eouClassifier": {}}), "unknown field eou"),
    ("uri and content", _body(top={"content": "AAAA"}), "set only one of them"),
    ("no audio", {"recognitionModel": _body()["recognitionModel"]}, "uri: required"),
    ("uri elsewhere", _body(top={"uri": "https://example.com/b/a.ogg"}), "not an Object Storage"),
    ("uri not a string", _body(top={"uri": 5}), "uri: expected a string"),
    ("content not base64", {**_body(), "uri": None, "content": "@@@"}, "content: not valid base64"),
    ("recognitionModel not an object", {"uri": URI, "recognitionModel": []}, "expected an object"),
    ("unknown model", _body(model="turbo"), "recognitionModel.model: unknown model"),
    ("no audio format", _body(audio_format=None), "recognitionModel.audioFormat: required"),
    ("two audio formats", _body({**CONTAINER, **RAW}), "set exactly one of rawAudio"),
    ("empty audio format", _body({}), "set exactly one of rawAudio"),
    (
        "container type missing",
        _body({"containerAudio": {}}),
        "containerAudio.containerAudioType: required",
    ),
    (
        "container type unknown",
        _body({"containerAudio": {"containerAudioType": "FLAC"}}),
        "containerAudioType: invalid value string 'FLAC'",
    ),
    (
        "container type number out of range",
        _body({"containerAudio": {"containerAudioType": 7}}),
        "containerAudioType: invalid value",
    ),
    (
        "container type boolean",
        _body({"containerAudio": {"containerAudioType": True}}),
        "containerAudioType: expected an enum",
    ),
    (
        "raw without encoding",
        _body({"rawAudio": {"sampleRateHertz": 8000}}),
        "rawAudio.audioEncoding: required",
    ),
    ("raw without rate", _body({"rawAudio": {"audioEncoding": "LINEAR16_PCM"}}), "required for"),
    ("raw rate not allowed", _body(_raw(sampleRateHertz=44100)), "44100 is not one of"),
    ("raw rate not a number", _body(_raw(sampleRateHertz="fast")), "expected an integer"),
    ("raw channels", _body(_raw(audioChannelCount=9)), "audioChannelCount: 9 is not between"),
    ("raw unknown field", _body(_raw(bitDepth=16)), "unknown field recognitionModel.audioFormat"),
    (
        "normalisation mode",
        _body(textNormalization={"textNormalization": "ON"}),
        "textNormalization.textNormalization: invalid value",
    ),
    (
        "profanity filter not boolean",
        _body(textNormalization={"profanityFilter": "yes"}),
        "textNormalization.profanityFilter: expected true or false",
    ),
    (
        "literature text not boolean",
        _body(textNormalization={"literatureText": 1}),
        "textNormalization.literatureText: expected true or false",
    ),
    (
        "phone formatting mode",
        _body(textNormalization={"phoneFormattingMode": "PHONE_FORMATTING_MODE_ENABLED"}),
        "phoneFormattingMode: invalid value",
    ),
    (
        "restriction type",
        _body(languageRestriction={"restrictionType": "GREYLIST", "languageCode": ["ru-RU"]}),
        "languageRestriction.restrictionType: invalid value",
    ),
    (
        "language codes not a list",
        _body(languageRestriction={"restrictionType": "WHITELIST", "languageCode": "ru-RU"}),
        "languageRestriction.languageCode: expected a list",
    ),
    (
        "unknown language",
        _body(languageRestriction={"restrictionType": "WHITELIST", "languageCode": ["xx-XX"]}),
        "languageCode[0]: unsupported language 'xx-XX'",
    ),
    (
        "speaker labeling value",
        _body(top={"speakerLabeling": {"speakerLabeling": "ON"}}),
        "speakerLabeling.speakerLabeling: invalid value",
    ),
    (
        "speaker labeling not an object",
        _body(top={"speakerLabeling": True}),
        "speakerLabeling: expected an object",
    ),
    (
        "speech analysis not an object",
        _body(top={"speechAnalysis": []}),
        "speechAnalysis: expected an object",
    ),
    (
        "processing type",
        _body(audioProcessingType="BATCH"),
        "audioProcessingType: invalid value",
    ),
]


@pytest.mark.parametrize("casing", ["camelCase", "snake_case"])
@pytest.mark.parametrize(
    ("body", "fragment"), [case[1:] for case in INVALID], ids=[case[0] for case in INVALID]
)
async def test_invalid_body_is_400_naming_the_field(
    emu: RunningEmulator,
    session: aiohttp.ClientSession,
    body: Any,
    fragment: str,
    casing: str,
) -> None:
    # Messages name fields by their JSON path whichever spelling was sent.
    sent = snake(body) if casing == "snake_case" else body
    async with session.post(emu.url + V3_SUBMIT_PATH, json=sent, headers=AUTH_HEADERS) as answer:
        payload = await answer.json()
        assert answer.status == 400, payload
        assert_error(payload, 3, answer.headers)
    assert fragment in payload["message"]
    assert emu.stats()["operations"] == {}


VALID: list[tuple[str, Any]] = [
    ("the documented body", _body()),
    ("raw LPCM, rate as a string", _body(_raw(sampleRateHertz="16000", audioChannelCount=2))),
    ("enums by number", _body({"containerAudio": {"containerAudioType": 3}})),
    ("every model option", _body(
        model="deferred-general:deprecated",
        textNormalization={
            "textNormalization": "TEXT_NORMALIZATION_ENABLED",
            "profanityFilter": True,
            "literatureText": True,
            "phoneFormattingMode": "PHONE_FORMATTING_MODE_DISABLED",
        },
        languageRestriction={"restrictionType": "BLACKLIST", "languageCode": ["RU-ru"]},
        audioProcessingType="FULL_DATA",
    )),
    ("ignored blocks", _body(top={
        "speakerLabeling": {"speakerLabeling": 2},
        "speechAnalysis": {"enableSpeakerAnalysis": True},
        "recognitionClassifier": {"classifiers": [{"classifier": "insult"}]},
        "summarization": {"modelUri": "gpt://b1g/yandexgpt", "properties": [{"instruction": "?"}]},
    })),
    ("no model: general", {"uri": URI, "recognitionModel": {"audioFormat": CONTAINER}}),
    ("inline content", {**_body(), "uri": None, "content": base64.b64encode(b"OggS").decode()}),
    ("presigned link", _body(top={"uri": URI + "?X-Amz-Signature=abc"})),
]  # fmt: skip


@pytest.mark.parametrize("casing", ["camelCase", "snake_case"])
@pytest.mark.parametrize("body", [case[1] for case in VALID], ids=[case[0] for case in VALID])
async def test_valid_bodies_are_accepted(
    emu: RunningEmulator, session: aiohttp.ClientSession, body: Any, casing: str
) -> None:
    operation = await submit_v3(session, emu.url, snake(body) if casing == "snake_case" else body)
    assert operation["done"] is False
    assert operation["id"] in emu.stats()["operations"]


def test_inline_content_over_60_mb_is_refused_before_decoding() -> None:
    body = _body(top={"uri": None, "content": "A" * (MAX_INLINE_BYTES * 4 // 3 + 8)})
    with pytest.raises(ApiError, match="content: more than") as raised:
        parse_request(body)
    assert raised.value.http_status == 400
