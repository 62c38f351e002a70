"""What a file is converted to: Ogg Opus for speech, the rate and bit rate by its band, the
channels kept; and the labels people read."""

from __future__ import annotations

import pytest

from orchestrator.media.labels import label_of
from orchestrator.media.probe import MediaInfo
from orchestrator.media.target import (
    NARROWBAND_BPS_PER_CHANNEL,
    OPUS_MAX_CHANNELS,
    WIDEBAND_BPS_PER_CHANNEL,
    Target,
    pcm_target,
    speech_target,
)


def info(rate: int, channels: int) -> MediaInfo:
    return MediaInfo("wav", "pcm_mulaw", "µ-law WAV", channels, rate, 60.0, False, 8)


@pytest.mark.parametrize(
    ("rate", "channels", "expected"),
    [
        (8000, 2, Target("ogg", "libopus", 8000, 2, 2 * NARROWBAND_BPS_PER_CHANNEL)),
        (6000, 1, Target("ogg", "libopus", 8000, 1, NARROWBAND_BPS_PER_CHANNEL)),
        (11025, 1, Target("ogg", "libopus", 16000, 1, WIDEBAND_BPS_PER_CHANNEL)),
        (44100, 2, Target("ogg", "libopus", 16000, 2, 2 * WIDEBAND_BPS_PER_CHANNEL)),
        (48000, 6, Target("ogg", "libopus", 16000, 6, 6 * WIDEBAND_BPS_PER_CHANNEL)),
    ],
)
def test_speech_goes_to_ogg_opus_by_its_band(rate: int, channels: int, expected: Target) -> None:
    assert speech_target(info(rate, channels)) == expected


def test_more_channels_than_ogg_opus_carries_are_capped() -> None:
    assert speech_target(info(16000, 12)).channels == OPUS_MAX_CHANNELS


def test_the_key_names_every_setting_and_the_encoding_the_service() -> None:
    target = speech_target(info(16000, 2))
    assert target.key == "ogg-opus-16000-2ch-48000-v1"
    assert target.encoding == "OGG_OPUS"
    pcm = pcm_target(info(8000, 1), 8000)
    assert pcm.key == "wav-pcm16-8000-1ch-0-v1"
    assert pcm.encoding == "LINEAR16_PCM"
    assert len({target.key, pcm.key, speech_target(info(8000, 2)).key}) == 3


@pytest.mark.parametrize(
    ("container", "codec", "video", "suffix", "label"),
    [
        ("wav", "pcm_mulaw", False, ".wav", "µ-law WAV"),
        ("wav", "gsm_ms", False, ".wav", "GSM WAV"),
        ("wav", "pcm_f32le", False, ".wav", "32-bit float WAV"),
        ("wav", "truespeech", False, ".wav", "WAV (truespeech)"),
        ("mov,mp4,m4a,3gp,3g2,mj2", "aac", False, ".m4a", "M4A (AAC)"),
        ("mov,mp4,m4a,3gp,3g2,mj2", "aac", True, ".mp4", "MP4 (AAC, with video)"),
        ("mov,mp4,m4a,3gp,3g2,mj2", "aac", True, ".MOV", "MOV (AAC, with video)"),
        ("matroska,webm", "opus", False, ".webm", "WebM (Opus)"),
        ("matroska,webm", "vorbis", False, ".mka", "Matroska (Vorbis)"),
        ("ogg", "vorbis", False, ".ogg", "Ogg Vorbis"),
        ("amr", "amrnb", False, ".amr", "AMR"),
        ("amr", "amr_wb", False, ".amr", "AMR-WB"),
        ("aiff", "pcm_s16be", False, ".aif", "AIFF"),
        ("mp3", "mp3", False, ".mp3", "MP3"),
        ("voc", "pcm_u8", False, ".voc", "voc (pcm_u8)"),
    ],
)
def test_labels_name_what_people_know(
    container: str, codec: str, video: bool, suffix: str, label: str
) -> None:
    assert label_of(container, codec, video, suffix) == label


def test_describe_reads_as_validate_prints_it() -> None:
    assert info(8000, 2).describe() == "µ-law WAV, 8 kHz, 2 channels"
    assert info(22050, 1).describe() == "µ-law WAV, 22.05 kHz, 1 channel"
