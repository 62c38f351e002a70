"""Every format the service refuses, probed and converted to Ogg Opus for speech with the
channels and the duration kept; ranges cut to the sample."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.media.convert import convert
from orchestrator.media.probe import MediaInfo, header_duration, media_info, opened
from orchestrator.media.target import pcm_target, speech_target
from tests.support import formats

SECONDS = 2.0
# Within a codec frame or two: AAC's 1024 samples (64 ms at 16 kHz), Opus's 20 ms.
FRAME_SLACK_S = 0.07
# What each committed fixture reads as: label, channels, rate, duration.
FIXTURES = {
    "gsm.wav": ("GSM WAV", 1, 8000, 1.5),
    "tone.amr": ("AMR", 1, 8000, 1.5),
}


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every generated format, once for the module, by name."""
    folder = tmp_path_factory.mktemp("formats")
    made = {name: formats.write(folder, name, SECONDS) for name in formats.FORMATS}
    return made | {name: formats.fixture(name) for name in FIXTURES}


def expected(name: str) -> tuple[str, int, int, float]:
    if name in FIXTURES:
        return FIXTURES[name]
    spec = formats.FORMATS[name]
    return spec.label, spec.channels, spec.sample_rate, SECONDS


ALL = [*formats.FORMATS, *FIXTURES]


@pytest.mark.parametrize("name", ALL)
def test_each_format_is_probed(audio: dict[str, Path], name: str) -> None:
    label, channels, rate, seconds = expected(name)
    info = media_info(audio[name])
    assert (info.label, info.channels, info.sample_rate) == (label, channels, rate)
    assert info.duration_s == pytest.approx(seconds, abs=FRAME_SLACK_S)
    assert info.has_video is (name == "mp4")


def test_describe_says_what_a_file_holds(audio: dict[str, Path]) -> None:
    assert media_info(audio["mulaw"]).describe() == "µ-law WAV, 8 kHz, 2 channels"
    assert media_info(audio["wav22"]).describe() == "16-bit PCM WAV, 22.05 kHz, 1 channel"
    assert media_info(audio["wav44"]).describe() == "16-bit PCM WAV, 44.1 kHz, 2 channels"


def test_ffmpegs_names_and_bits_are_kept(audio: dict[str, Path]) -> None:
    mulaw = media_info(audio["mulaw"])
    assert (mulaw.container, mulaw.codec, mulaw.bits) == ("wav", "pcm_mulaw", 8)
    assert media_info(audio["pcm24"]).bits == 24
    assert media_info(audio["m4a"]).container == "mov,mp4,m4a,3gp,3g2,mj2"
    assert media_info(audio["m4a"]).bits is None


def is_ogg_opus(info: MediaInfo) -> bool:
    return (info.container, info.codec, info.label) == ("ogg", "opus", "Ogg Opus")


@pytest.mark.parametrize("name", ALL)
def test_each_format_converts_to_ogg_opus_keeping_channels_and_duration(
    audio: dict[str, Path], tmp_path: Path, name: str
) -> None:
    source = media_info(audio[name])
    target = speech_target(source)
    out = tmp_path / "out.ogg"
    done = convert(audio[name], out, target)
    result = media_info(out)
    assert is_ogg_opus(result)
    assert result.channels == source.channels
    assert done.duration_s == pytest.approx(source.duration_s, abs=FRAME_SLACK_S)
    assert result.duration_s == pytest.approx(done.duration_s, abs=FRAME_SLACK_S)
    assert done.size_bytes == out.stat().st_size
    assert not (tmp_path / "out.ogg.part").exists()


def test_a_range_is_cut_to_the_sample(audio: dict[str, Path], tmp_path: Path) -> None:
    target = speech_target(media_info(audio["mulaw"]))
    done = convert(audio["mulaw"], tmp_path / "part.ogg", target, 0.5, 1.25)
    assert done.duration_s == pytest.approx(0.75, abs=1 / 8000)
    assert media_info(tmp_path / "part.ogg").duration_s == pytest.approx(0.75, abs=FRAME_SLACK_S)


@pytest.mark.parametrize("name", ["mulaw", "flac", "m4a", "webm"])
def test_consecutive_parts_add_up_to_the_whole(
    audio: dict[str, Path], tmp_path: Path, name: str
) -> None:
    target = speech_target(media_info(audio[name]))
    whole = convert(audio[name], tmp_path / "whole.ogg", target).duration_s
    bounds = [(0.0, 0.7), (0.7, 1.3), (1.3, None)]
    parts = [
        convert(audio[name], tmp_path / f"{i}.ogg", target, start, end).duration_s
        for i, (start, end) in enumerate(bounds)
    ]
    # To the sample where the container's times are (WAV, FLAC, MP4); WebM's are in
    # milliseconds, so a cut after a seek there is exact to the millisecond.
    slack = 2e-3 if name == "webm" else 1 / 8000
    assert parts[:2] == [pytest.approx(0.7, abs=slack), pytest.approx(0.6, abs=slack)]
    assert sum(parts) == pytest.approx(whole, abs=slack)


def test_a_stereo_telephony_call_stays_narrowband_stereo(audio: dict[str, Path]) -> None:
    target = speech_target(media_info(audio["mulaw"]))
    assert (target.container, target.codec, target.sample_rate, target.channels) == (
        "ogg",
        "libopus",
        8000,
        2,
    )
    assert target.encoding == "OGG_OPUS"


@pytest.mark.parametrize(("name", "rate"), [("mulaw", 8000), ("m4a", 16000), ("wav44", 16000)])
def test_a_pcm_target_writes_16_bit_wav(
    audio: dict[str, Path], tmp_path: Path, name: str, rate: int
) -> None:
    source = media_info(audio[name])
    out = tmp_path / "out.wav"
    convert(audio[name], out, pcm_target(source, rate))
    result = media_info(out)
    assert (result.label, result.sample_rate, result.channels) == (
        "16-bit PCM WAV",
        rate,
        source.channels,
    )
    assert result.duration_s == pytest.approx(source.duration_s, abs=FRAME_SLACK_S)


def test_a_duration_the_header_cannot_tell_is_decoded(tmp_path: Path) -> None:
    path = formats.streamed_webm(tmp_path, 2.0)
    with opened(path) as container:
        assert header_duration(container, container.streams.audio[0]) is None
    info = media_info(path)
    assert (info.label, info.channels) == ("WebM (Opus)", 2)
    assert info.duration_s == pytest.approx(2.0, abs=FRAME_SLACK_S)
    done = convert(path, tmp_path / "out.ogg", speech_target(info))
    assert done.duration_s == pytest.approx(2.0, abs=FRAME_SLACK_S)
