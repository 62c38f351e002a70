"""API v3 over real HTTP: recognizeFileAsync, the Operation, getRecognition, deleteRecognition."""

from __future__ import annotations

import base64
import re
from collections import defaultdict
from typing import Any

import aiohttp
import pytest

from orchestrator.emulator import EMULATED_MARK, RunningEmulator
from tests.emulator.helpers import (
    MONO_MP3,
    finals,
    recognize_v3,
    results_v3,
    submit_v3,
    v3_body,
    wait_done,
)

URI = "https://storage.yandexcloud.net/bucket/audio.ogg"
EVENTS = {
    "partial",
    "final",
    "eouUpdate",
    "finalRefinement",
    "statusCode",
    "classifierUpdate",
    "speakerAnalysis",
    "conversationAnalysis",
    "summarization",
}
LONG_RAW = {"rawAudio": {"audioEncoding": "LINEAR16_PCM", "sampleRateHertz": 8000}}
NORMALIZED = {
    "textNormalization": {"textNormalization": "TEXT_NORMALIZATION_ENABLED", "literatureText": True}
}


def _raw_body(uri: str, **model: Any) -> dict[str, Any]:
    return {"uri": uri, "recognitionModel": {"audioFormat": LONG_RAW, **model}}


def _is_int64(value: Any) -> bool:
    return isinstance(value, str) and value.lstrip("-").isdigit()


def _check_alternative(alternative: dict[str, Any]) -> None:
    assert set(alternative) == {
        "words",
        "text",
        "startTimeMs",
        "endTimeMs",
        "confidence",
        "languages",
    }
    assert alternative["languages"] == []
    assert isinstance(alternative["confidence"], int | float)
    assert _is_int64(alternative["startTimeMs"])
    assert _is_int64(alternative["endTimeMs"])
    for word in alternative["words"]:
        assert set(word) == {"text", "startTimeMs", "endTimeMs"}
        assert _is_int64(word["startTimeMs"])
        assert _is_int64(word["endTimeMs"])
        assert int(word["startTimeMs"]) < int(word["endTimeMs"])


def _check_line(line: dict[str, Any], operation_id: str) -> str:
    """Check one getRecognition line's common shape; the name of its event."""
    assert set(line) == {"result"}
    result = line["result"]
    assert result["sessionUuid"]["userRequestId"] == operation_id
    assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{8}){3}", result["sessionUuid"]["uuid"])
    assert all(_is_int64(value) for value in result["audioCursors"].values())
    assert _is_int64(result["responseWallTimeMs"])
    assert isinstance(result["channelTag"], str)
    (event,) = EVENTS & set(result)
    assert set(result) == {"sessionUuid", "audioCursors", "responseWallTimeMs", "channelTag", event}
    return event


async def test_submission_answers_the_documented_operation(
    emu: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    operation = await submit_v3(session, emu.url, v3_body(URI))
    assert list(operation) == [
        "id",
        "description",
        "createdAt",
        "createdBy",
        "modifiedAt",
        "done",
        "metadata",
    ]
    assert operation["description"] == "STT v3 async recognition"
    assert (operation["done"], operation["metadata"]) == (False, None)
    assert re.fullmatch(r"f8d[a-v0-9]{17}", operation["id"])
    assert re.fullmatch(r"aje[a-v0-9]{17}", operation["createdBy"])
    assert emu.stats()["operations"][operation["id"]]["api"] == "v3"


async def test_the_documentations_snake_case_sample_recognises_wav(
    emu: RunningEmulator, session: aiohttp.ClientSession, audio: dict[str, str]
) -> None:
    body = {
        "uri": audio["tone.wav"],
        "recognition_model": {
            "model": "general",
            "audio_format": {"container_audio": {"container_audio_type": "WAV"}},
        },
    }
    operation, lines = await recognize_v3(session, emu.url, body)
    # The documented finished v3 Operation: no response, no metadata.
    assert set(operation) == {"done", "id", "description", "createdAt", "createdBy", "modifiedAt"}
    events = [_check_line(line, operation["id"]) for line in lines]
    assert "final" in events
    for result in finals(lines):
        assert result["channelTag"] == result["final"]["channelTag"] == "0"
        (alternative,) = result["final"]["alternatives"]
        _check_alternative(alternative)
        assert alternative["text"] == " ".join(w["text"] for w in alternative["words"])
    assert finals(lines)[0]["final"]["alternatives"][0]["text"].startswith(EMULATED_MARK)


@pytest.mark.parametrize(
    ("key", "audio_format", "channels", "seconds"),
    [
        ("stereo.ogg", {"containerAudio": {"containerAudioType": "OGG_OPUS"}}, 2, 3.0),
        ("mono.mp3", {"containerAudio": {"containerAudioType": "MP3"}}, 1, 2.09),
        ("tone.wav", {"containerAudio": {"containerAudioType": "WAV"}}, 1, 0.5),
        ("stereo.wav", {"containerAudio": {"containerAudioType": "WAV"}}, 2, 4.0),
        (
            "stereo16k.raw",
            {
                "rawAudio": {
                    "audioEncoding": "LINEAR16_PCM",
                    "sampleRateHertz": 16000,
                    "audioChannelCount": 2,
                }
            },
            2,
            1.0,
        ),
    ],
)
async def test_each_format_gives_finals_per_channel(
    emu: RunningEmulator,
    session: aiohttp.ClientSession,
    audio: dict[str, str],
    key: str,
    audio_format: dict[str, Any],
    channels: int,
    seconds: float,
) -> None:
    body = {"uri": audio[key], "recognitionModel": {"audioFormat": audio_format}}
    operation, lines = await recognize_v3(session, emu.url, body)
    assert "error" not in operation
    tags = {result["channelTag"] for result in finals(lines)}
    assert tags == {str(channel) for channel in range(channels)}
    stats = emu.stats()["operations"][operation["id"]]
    assert stats["channels"] == channels
    assert stats["audio_seconds"] == pytest.approx(seconds, abs=0.05)
    for result in finals(lines):
        for word in result["final"]["alternatives"][0]["words"]:
            assert int(word["endTimeMs"]) <= seconds * 1000 + 50


@pytest.mark.parametrize(
    ("key", "audio_format", "fragment"),
    [
        ("mono.mp3", {"containerAudio": {"containerAudioType": "WAV"}}, "the data is MP3"),
        ("stereo.ogg", {"containerAudio": {"containerAudioType": "MP3"}}, "the data is Ogg Opus"),
        ("tone.wav", {"containerAudio": {"containerAudioType": "OGG_OPUS"}}, "the data is WAV"),
        ("tone.wav", LONG_RAW, "the data is WAV"),
        ("missing.ogg", {"containerAudio": {"containerAudioType": "OGG_OPUS"}}, "not found"),
    ],
)
async def test_audio_that_is_not_as_declared_fails_the_operation(
    emu: RunningEmulator,
    session: aiohttp.ClientSession,
    audio: dict[str, str],
    key: str,
    audio_format: dict[str, Any],
    fragment: str,
) -> None:
    uri = audio["tone.wav"].rsplit("/", 1)[0] + "/" + key
    body = {"uri": uri, "recognitionModel": {"audioFormat": audio_format}}
    operation = await wait_done(session, emu.url, (await submit_v3(session, emu.url, body))["id"])
    assert fragment in operation["error"]["message"]
    code = operation["error"]["code"]
    # getRecognition of a failed operation answers the operation's error.
    status, (payload,) = await results_v3(session, emu.url, operation["id"])
    assert (status, payload["code"]) == ({3: 400, 5: 404}[code], code)


@pytest.mark.parametrize("key", ["sync-ffff.raw", "sync-fff4.raw"])
async def test_raw_audio_starting_like_an_mpeg_frame_sync_is_still_samples(
    emu: RunningEmulator, session: aiohttp.ClientSession, audio: dict[str, str], key: str
) -> None:
    operation, lines = await recognize_v3(session, emu.url, _raw_body(audio[key]))
    assert "error" not in operation, operation
    assert {result["channelTag"] for result in finals(lines)} == {"0"}
    stats = emu.stats()["operations"][operation["id"]]
    assert stats["audio_seconds"] == pytest.approx(1.0, abs=0.01)


async def test_inline_content_needs_no_storage(
    emu: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    body = v3_body("", container="MP3")
    del body["uri"]
    body["content"] = base64.b64encode(MONO_MP3.read_bytes()).decode()
    operation, lines = await recognize_v3(session, emu.url, body)
    assert "error" not in operation
    assert {result["channelTag"] for result in finals(lines)} == {"0"}


async def test_normalisation_refines_each_final_paired_by_channel_and_index(
    emu: RunningEmulator, session: aiohttp.ClientSession, audio: dict[str, str]
) -> None:
    body = v3_body(audio["stereo.wav"], container="WAV", **NORMALIZED)
    _, stereo = await recognize_v3(session, emu.url, body)
    long_body = _raw_body(audio["long8k.raw"], **NORMALIZED)
    _, long_mono = await recognize_v3(session, emu.url, long_body)
    for lines in (stereo, long_mono):
        by_key = {
            (r["channelTag"], r["audioCursors"]["finalIndex"]): r["final"] for r in finals(lines)
        }
        refinements = [line["result"] for line in lines if "finalRefinement" in line["result"]]
        assert len(refinements) == len(by_key)
        for result in refinements:
            refinement = result["finalRefinement"]
            key = (result["channelTag"], refinement["finalIndex"])
            final = by_key.pop(key)
            (raw,) = final["alternatives"]
            (normal,) = refinement["normalizedText"]["alternatives"]
            _check_alternative(normal)
            assert (normal["startTimeMs"], normal["endTimeMs"]) == (
                raw["startTimeMs"],
                raw["endTimeMs"],
            )
            assert normal["text"].endswith(".")
        assert by_key == {}
    # Each channel counts its own finals from 0: pairing needs the channelTag too.
    indexes = defaultdict(list)
    for result in finals(stereo):
        indexes[result["channelTag"]].append(int(result["audioCursors"]["finalIndex"]))
    assert set(indexes) == {"0", "1"}
    for values in indexes.values():
        assert values == list(range(len(values)))
    # Raw finals spell numbers out; the normalised text writes digits.
    raw_text = " ".join(r["final"]["alternatives"][0]["text"] for r in finals(long_mono))
    normal_text = " ".join(
        line["result"]["finalRefinement"]["normalizedText"]["alternatives"][0]["text"]
        for line in long_mono
        if "finalRefinement" in line["result"]
    )
    assert not any(ch.isdigit() for ch in raw_text)
    assert any(ch.isdigit() for ch in normal_text)


async def test_without_normalisation_there_are_no_refinements(
    emu: RunningEmulator, session: aiohttp.ClientSession, audio: dict[str, str]
) -> None:
    disabled = {"textNormalization": {"textNormalization": "TEXT_NORMALIZATION_DISABLED"}}
    for body in (_raw_body(audio["long8k.raw"]), _raw_body(audio["long8k.raw"], **disabled)):
        _, lines = await recognize_v3(session, emu.url, body)
        assert finals(lines)
        assert not [line for line in lines if "finalRefinement" in line["result"]]


async def test_speaker_labels_are_channel_tags_of_a_mono_recording(
    emu: RunningEmulator, session: aiohttp.ClientSession, audio: dict[str, str]
) -> None:
    body = _raw_body(audio["long8k.raw"])
    body["speakerLabeling"] = {"speakerLabeling": "SPEAKER_LABELING_ENABLED"}
    _, labeled = await recognize_v3(session, emu.url, body)
    _, plain = await recognize_v3(session, emu.url, _raw_body(audio["long8k.raw"]))
    assert {r["channelTag"] for r in finals(plain)} == {"0"}
    assert {r["channelTag"] for r in finals(labeled)} == {"0", "1"}
    for result in finals(labeled):
        assert result["final"]["channelTag"] == result["channelTag"]
    # One recording is one session: its finals are numbered across both speakers.
    indexes = [int(r["audioCursors"]["finalIndex"]) for r in finals(labeled)]
    assert indexes == list(range(len(indexes)))
    # The same words, only labelled.
    texts = [r["final"]["alternatives"][0]["text"] for r in finals(labeled)]
    assert texts == [r["final"]["alternatives"][0]["text"] for r in finals(plain)]


async def test_silence_has_no_finals(
    emu: RunningEmulator, session: aiohttp.ClientSession, audio: dict[str, str]
) -> None:
    operation, lines = await recognize_v3(
        session, emu.url, v3_body(audio["silence.wav"], container="WAV")
    )
    assert "error" not in operation
    assert lines
    assert {_check_line(line, operation["id"]) for line in lines} == {"statusCode"}


async def test_deferred_and_rc_models_are_recorded(
    emu: RunningEmulator, session: aiohttp.ClientSession, audio: dict[str, str]
) -> None:
    for model in ("deferred-general:rc", "general:deprecated"):
        body = v3_body(audio["mono.mp3"], container="MP3")
        body["recognitionModel"]["model"] = model
        operation, lines = await recognize_v3(session, emu.url, body)
        assert finals(lines)
        assert emu.stats()["operations"][operation["id"]]["model"] == model
