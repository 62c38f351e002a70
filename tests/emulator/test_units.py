"""The emulator's pure parts: quotas, timing, synthetic text, format detection, settings."""

from __future__ import annotations

import pytest

from orchestrator.emulator.audio import ProbedAudio, detect_container
from orchestrator.emulator.processor import Processor
from orchestrator.emulator.quota import SlidingWindow, retry_after_header
from orchestrator.emulator.settings import EmulatorSettings
from orchestrator.emulator.storage import ObjectFetcher, ObjectRef, parse_object_uri
from orchestrator.emulator.synth import RenderOptions, duration_string, spell_number, synthesize
from tests.emulator.helpers import MONO_MP3, STEREO_OGG


def test_sliding_window_counts_only_the_last_window() -> None:
    now = [0.0]
    window = SlidingWindow(2, 10.0, clock=lambda: now[0])
    assert window.try_acquire() is None
    now[0] = 4.0
    assert window.try_acquire() is None
    assert window.try_acquire() == pytest.approx(6.0)
    now[0] = 10.5
    assert window.try_acquire() is None
    assert window.try_acquire() == pytest.approx(3.5)
    assert window.used() == 2
    assert retry_after_header(0.2) == "1"
    assert retry_after_header(3.5) == "4"


def test_processing_time_scales_with_audio_channels_speed_and_model() -> None:
    settings = EmulatorSettings(speed=100, processing_noise=0.0, deferred_factor=10)
    processor = Processor(settings, ObjectFetcher(None, None, None, "ru-central1"))
    one_minute = processor.processing_seconds(ProbedAudio(60.0, 1), deferred=False)
    assert one_minute == pytest.approx(0.1)
    assert processor.processing_seconds(ProbedAudio(60.0, 2), False) == pytest.approx(0.2)
    assert processor.processing_seconds(ProbedAudio(60.0, 1), True) == pytest.approx(1.0)


def test_processing_noise_is_seeded() -> None:
    def times(seed: int) -> list[float]:
        processor = Processor(
            EmulatorSettings(seed=seed), ObjectFetcher(None, None, None, "ru-central1")
        )
        return [processor.processing_seconds(ProbedAudio(60.0, 1), False) for _ in range(5)]

    assert times(1) == times(1)
    assert times(1) != times(2)
    assert len(set(times(1))) == 5


def test_spell_number() -> None:
    assert spell_number(42, "ru") == ["сорок", "два"]
    assert spell_number(13, "en") == ["thirteen"]
    assert spell_number(70, "en") == ["seventy"]
    assert spell_number(0, "ru") == ["ноль"]


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.0, "0s"), (3.0, "3s"), (0.25, "0.250s"), (0.88, "0.879999995s"), (61.5, "61.500s")],
)
def test_duration_string(value: float, text: str) -> None:
    assert duration_string(value) == text


def test_synthetic_text_depends_on_content_and_language() -> None:
    options = RenderOptions()
    assert synthesize("a" * 64, 30.0, 1, options) == synthesize("a" * 64, 30.0, 1, options)
    assert synthesize("a" * 64, 30.0, 1, options) != synthesize("b" * 64, 30.0, 1, options)
    english = synthesize("a" * 64, 30.0, 1, RenderOptions(language="en-US"))
    assert english[0]["alternatives"][0]["text"].isascii()
    tiny = synthesize("a" * 64, 0.05, 2, options)
    assert [chunk["channelTag"] for chunk in tiny] == ["1", "2"]


def test_detect_container() -> None:
    assert detect_container(STEREO_OGG.read_bytes()[:128]) == "ogg_opus"
    assert detect_container(MONO_MP3.read_bytes()[:128]) == "mp3"
    assert detect_container(b"RIFF\0\0\0\0WAVEfmt ") == "wav"
    assert detect_container(b"OggS" + bytes(60) + b"\x01vorbis") == "ogg_other"
    assert detect_container(bytes(128)) == "unknown"


def test_parse_object_uri() -> None:
    uri = "https://storage.yandexcloud.net/my.bucket/dir/a%20b.ogg?X-Amz-Signature=s"
    assert parse_object_uri(uri) == ObjectRef("my.bucket", "dir/a b.ogg")
    assert parse_object_uri("https://my.storage.yandexcloud.net/b/a.ogg") is None
    assert parse_object_uri("https://storage.yandexcloud.net/B_ad/a.ogg") is None


@pytest.mark.parametrize(
    "overrides",
    [
        {"speed": 0},
        {"reset_rate": 1.5},
        {"error_5xx_rate": 0.6, "reset_rate": 0.6},
        {"submit_quota": 0},
        {"ttl_s": -1.0},
        {"max_concurrent": 0},
    ],
)
def test_settings_reject_nonsense(overrides: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        EmulatorSettings(**overrides)  # type: ignore[arg-type]


def test_effective_windows_follow_speed_unless_given() -> None:
    assert EmulatorSettings(speed=100).effective_window_s == pytest.approx(36.0)
    assert EmulatorSettings(speed=100).effective_ttl_s == pytest.approx(2592.0)
    assert EmulatorSettings(speed=100, quota_window_s=5, ttl_s=2).effective_ttl_s == 2
