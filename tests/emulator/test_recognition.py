"""Recognition results and failed operations, with audio fetched from the moto S3 server."""

from __future__ import annotations

import aiohttp
import pytest

from orchestrator.core.constants import V2_RESPONSE_TYPE
from orchestrator.emulator import EMULATED_MARK, RunningEmulator
from tests.emulator.helpers import recognize, seconds, texts, v2_body

LONG_LPCM = {"audioEncoding": "LINEAR16_PCM", "sampleRateHertz": 8000}


async def test_stereo_ogg_gives_chunks_per_channel_within_its_duration(
    emu: RunningEmulator, session: aiohttp.ClientSession, audio: dict[str, str]
) -> None:
    operation = await recognize(session, emu.url, v2_body(audio["stereo.ogg"]))
    spelt = await recognize(session, emu.url, v2_body(audio["stereo.ogg"], rawResults=True))
    assert operation["done"] is True
    assert "error" not in operation
    response = operation["response"]
    assert response["@type"] == V2_RESPONSE_TYPE
    assert {chunk["channelTag"] for chunk in response["chunks"]} == {"1", "2"}
    for chunk, raw in zip(response["chunks"], spelt["response"]["chunks"], strict=True):
        alternative = chunk["alternatives"][0]
        words = alternative["words"]
        # The words are the text with numbers spelt out (see the test below).
        assert raw["alternatives"][0]["text"] == " ".join(w["word"] for w in words)
        for word in words:
            assert 0 <= seconds(word["startTime"]) < seconds(word["endTime"]) <= 3.0
    stats = emu.stats()["operations"][operation["id"]]
    assert stats["audio_seconds"] == pytest.approx(3.0)
    assert stats["channels"] == 2
    for tag_texts in texts(operation).values():
        assert tag_texts[0].startswith(EMULATED_MARK)


async def test_mp3_mono(
    emu: RunningEmulator, session: aiohttp.ClientSession, audio: dict[str, str]
) -> None:
    operation = await recognize(session, emu.url, v2_body(audio["mono.mp3"], audioEncoding="MP3"))
    assert set(texts(operation)) == {"1"}
    stats = emu.stats()["operations"][operation["id"]]
    assert stats["channels"] == 1
    assert stats["audio_seconds"] == pytest.approx(2.09, abs=0.05)


async def test_raw_lpcm_duration_from_size_rate_and_channels(
    emu: RunningEmulator, session: aiohttp.ClientSession, audio: dict[str, str]
) -> None:
    body = v2_body(
        audio["stereo16k.raw"],
        audioEncoding="LINEAR16_PCM",
        sampleRateHertz=16000,
        audioChannelCount=2,
    )
    operation = await recognize(session, emu.url, body)
    assert set(texts(operation)) == {"1", "2"}
    stats = emu.stats()["operations"][operation["id"]]
    assert (stats["audio_seconds"], stats["channels"]) == (pytest.approx(1.0), 2)


async def test_long_audio_has_several_chunks_and_same_audio_same_text(
    emu: RunningEmulator, session: aiohttp.ClientSession, audio: dict[str, str]
) -> None:
    first = await recognize(session, emu.url, v2_body(audio["long8k.raw"], **LONG_LPCM))
    second = await recognize(session, emu.url, v2_body(audio["long8k.raw"], **LONG_LPCM))
    assert len(first["response"]["chunks"]) > 3
    assert first["response"] == second["response"]
    other = await recognize(session, emu.url, v2_body(audio["stereo.ogg"]))
    assert texts(other)["1"] != texts(first)["1"][: len(texts(other)["1"])]


async def test_raw_results_spells_numbers_and_literature_text_punctuates(
    emu: RunningEmulator, session: aiohttp.ClientSession, audio: dict[str, str]
) -> None:
    uri = audio["long8k.raw"]
    plain = " ".join(texts(await recognize(session, emu.url, v2_body(uri, **LONG_LPCM)))["1"])
    raw = " ".join(
        texts(await recognize(session, emu.url, v2_body(uri, rawResults=True, **LONG_LPCM)))["1"]
    )
    literature = texts(
        await recognize(session, emu.url, v2_body(uri, literature_text=True, **LONG_LPCM))
    )["1"]
    assert any(ch.isdigit() for ch in plain)
    assert not any(ch.isdigit() for ch in raw)
    assert raw != plain
    assert all(text.endswith(".") for text in literature)
    assert any(text != text.lower() for text in literature)
    assert "." not in plain


async def test_words_spell_numbers_out_and_carry_no_punctuation_unlike_the_text(
    emu: RunningEmulator, session: aiohttp.ClientSession, audio: dict[str, str]
) -> None:
    # The v2 reference: words[].word has numbers in words ("twelve", not 12); text has
    # figures unless rawResults, and with literature_text capitals and punctuation.
    uri = audio["long8k.raw"]
    literature = await recognize(session, emu.url, v2_body(uri, literature_text=True, **LONG_LPCM))
    spelt = await recognize(session, emu.url, v2_body(uri, rawResults=True, **LONG_LPCM))
    chunks = literature["response"]["chunks"]
    assert any(ch.isdigit() for chunk in chunks for ch in chunk["alternatives"][0]["text"])
    for chunk, raw in zip(chunks, spelt["response"]["chunks"], strict=True):
        words = [w["word"] for w in chunk["alternatives"][0]["words"]]
        assert words == [w["word"] for w in raw["alternatives"][0]["words"]]
        assert " ".join(words) == raw["alternatives"][0]["text"]
        assert not any(ch.isdigit() or ch in ",." for word in words for ch in word)
        assert chunk["alternatives"][0]["text"].endswith(".")


async def test_profanity_filter_masks_with_asterisks(
    emu: RunningEmulator, session: aiohttp.ClientSession, audio: dict[str, str]
) -> None:
    uri = audio["long8k.raw"]
    plain = " ".join(texts(await recognize(session, emu.url, v2_body(uri, **LONG_LPCM)))["1"])
    masked = " ".join(
        texts(await recognize(session, emu.url, v2_body(uri, profanityFilter=True, **LONG_LPCM)))[
            "1"
        ]
    )
    assert "*" not in plain
    assert "****" in masked
    assert "блин" in plain
    assert "блин" not in masked


@pytest.mark.parametrize("key", ["sync-ffff.raw", "sync-fff4.raw"])
async def test_raw_lpcm_starting_like_an_mpeg_frame_sync_is_still_samples(
    emu: RunningEmulator, session: aiohttp.ClientSession, audio: dict[str, str], key: str
) -> None:
    spec = {"audioEncoding": "LINEAR16_PCM", "sampleRateHertz": 8000}
    operation = await recognize(session, emu.url, v2_body(audio[key], **spec))
    assert "error" not in operation, operation
    assert set(texts(operation)) == {"1"}
    stats = emu.stats()["operations"][operation["id"]]
    assert stats["audio_seconds"] == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize(
    ("key", "spec", "code", "fragment"),
    [
        ("missing.ogg", {}, 5, "not found"),
        ("mono.mp3", {"audioEncoding": "OGG_OPUS"}, 3, "the data is MP3"),
        ("stereo.ogg", {"audioEncoding": "MP3"}, 3, "the data is Ogg Opus"),
        ("tone.wav", {"audioEncoding": "LINEAR16_PCM", "sampleRateHertz": 16000}, 3, "WAV"),
        ("odd.raw", {"audioEncoding": "LINEAR16_PCM", "sampleRateHertz": 8000}, 3, "whole number"),
        ("empty.ogg", {}, 3, "empty"),
    ],
)
async def test_bad_audio_ends_the_operation_with_an_error(
    emu: RunningEmulator,
    session: aiohttp.ClientSession,
    audio: dict[str, str],
    key: str,
    spec: dict[str, object],
    code: int,
    fragment: str,
) -> None:
    uri = audio["stereo.ogg"].rsplit("/", 1)[0] + "/" + key
    operation = await recognize(session, emu.url, v2_body(uri, **spec))
    assert "response" not in operation
    assert operation["error"]["code"] == code
    assert fragment in operation["error"]["message"]
    assert emu.stats()["operations"][operation["id"]]["outcome"] == "error"


async def test_missing_bucket_ends_with_not_found(
    emu: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    uri = "https://storage.yandexcloud.net/no-such-bucket-here/a.ogg"
    operation = await recognize(session, emu.url, v2_body(uri))
    assert operation["error"]["code"] == 5
