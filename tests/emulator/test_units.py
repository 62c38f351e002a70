"""The emulator's pure parts: quotas, timing, synthetic text, format detection, settings."""

from __future__ import annotations

import argparse

import pytest

from orchestrator.emulator.asr_xml import normalise_content_type
from orchestrator.emulator.audio import ProbedAudio, detect_container
from orchestrator.emulator.cli import register, settings_from_args
from orchestrator.emulator.core import account_id
from orchestrator.emulator.errors import ApiError
from orchestrator.emulator.operations import rfc3339
from orchestrator.emulator.processor import Processor
from orchestrator.emulator.quota import QuotaMeter, SlidingWindow, retry_after_header
from orchestrator.emulator.settings import EmulatorSettings
from orchestrator.emulator.storage import ObjectFetcher, ObjectRef, parse_object_uri
from orchestrator.emulator.synth import RenderOptions, duration_string, spell_number, synthesize
from orchestrator.emulator.v3_results import speaker_tags
from orchestrator.emulator.validation import check_enum, check_object, proto_schema
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


def test_processing_overhead_is_per_operation_and_scaled_by_speed() -> None:
    settings = EmulatorSettings(speed=100, processing_noise=0.0, processing_overhead_s=5.0)
    processor = Processor(settings, ObjectFetcher(None, None, None, "ru-central1"))
    # 5 service seconds + 10 s per audio minute, both divided by the speed.
    assert processor.processing_seconds(ProbedAudio(60.0, 1), False) == pytest.approx(0.15)
    assert processor.processing_seconds(ProbedAudio(6.0, 1), False) == pytest.approx(0.06)
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["emulator", "--processing-overhead-s", "3"])
    assert settings_from_args(args, {}).processing_overhead_s == 3.0
    assert settings_from_args(parser.parse_args(["emulator"]), {}).processing_overhead_s == 0.0
    with pytest.raises(ValueError, match="processing_overhead_s"):
        EmulatorSettings(processing_overhead_s=-1.0)


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
        {"v3_status_quota": 0},
        {"asr_xml_window_s": 0.0},
        {"op_error_codes": (2,)},
        {"op_error_codes": ()},
        {"op_error_undone_rate": 2.0},
        {"timestamp_resolution_s": -1.0},
        {"asr_xml_max_stream_bytes": 0},
    ],
)
def test_settings_reject_nonsense(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must"):
        EmulatorSettings(**overrides)  # type: ignore[arg-type]


def test_effective_windows_follow_speed_unless_given() -> None:
    assert EmulatorSettings(speed=100).effective_window_s == pytest.approx(36.0)
    assert EmulatorSettings(speed=100).effective_ttl_s == pytest.approx(2592.0)
    assert EmulatorSettings(speed=100, quota_window_s=5, ttl_s=2).effective_ttl_s == 2

    assert EmulatorSettings(speed=100).effective_v3_status_window_s == pytest.approx(0.01)
    assert EmulatorSettings(speed=100).effective_asr_xml_window_s == pytest.approx(0.01)
    assert EmulatorSettings(speed=100).timestamp_resolution_wall_s == pytest.approx(0.01)


@pytest.mark.parametrize(
    ("timestamp", "resolution", "text"),
    [
        (1721032219.0, 1.0, "2024-07-15T08:30:19Z"),
        (1721032219.93, 1.0, "2024-07-15T08:30:19Z"),
        (1721032219.937, 0.01, "2024-07-15T08:30:19.930Z"),
        (1721032219.5, 0.0, "2024-07-15T08:30:19.500Z"),
        (1721032219.123456, 0.0, "2024-07-15T08:30:19.123456Z"),
    ],
)
def test_rfc3339_cuts_to_the_resolution(timestamp: float, resolution: float, text: str) -> None:
    assert rfc3339(timestamp, resolution) == text


def test_quota_meter_records_arrivals_and_the_busiest_window() -> None:
    now = [0.0]
    meter = QuotaMeter(2, 10.0, clock=lambda: now[0], wall_clock=lambda: 1000 + now[0])
    for moment in (0.0, 1.0, 2.0, 11.5, 12.0):
        now[0] = moment
        meter.try_acquire()
    stats = meter.as_json()
    # Three arrived within 10 s (the third refused); later ones found room again.
    assert (stats["accepted"], stats["throttled"], stats["max_in_window"]) == (4, 1, 3)
    assert stats["arrivals"] == [1000.0, 1001.0, 1002.0, 1011.5, 1012.0]
    assert (stats["limit"], stats["window_s"]) == (2, 10.0)


def test_account_ids_look_like_service_accounts_and_hide_the_key() -> None:
    first = account_id("secret-key-1")
    assert len(first) == 20
    assert first.startswith("aje")
    assert first == account_id("secret-key-1") != account_id("secret-key-2")
    assert "secret" not in first


@pytest.mark.parametrize(
    ("given", "documented"),
    [
        ("audio/x-wav", "audio/x-wav"),
        ("AUDIO/X-WAV", "audio/x-wav"),
        ("audio/ogg; codecs=opus", "audio/ogg;codecs=opus"),
        ("audio/x-pcm; rate=8000; bit=16", "audio/x-pcm;bit=16;rate=8000"),
        ("audio/x-pcm;bit=16", None),
        ("audio/ogg", None),
        ("audio/x-wav;rate=16000", None),
        ("text/plain", None),
    ],
)
def test_normalise_content_type(given: str, documented: str | None) -> None:
    assert normalise_content_type(given) == documented


def test_speaker_tags_alternate_between_two_speakers() -> None:
    assert speaker_tags("a" * 64, 0) == []
    assert speaker_tags("a" * 64, 1) == [0]
    tags = speaker_tags("b" * 64, 12)
    assert set(tags) == {0, 1}
    assert tags[0] == 0
    assert tags == speaker_tags("b" * 64, 12)


def test_proto_schema_takes_both_spellings_and_enums_by_name_or_number() -> None:
    schema = proto_schema(("container_audio_type", "enum"), ("sample_rate_hertz", "int"))
    names = ("UNSPECIFIED", "WAV", "OGG_OPUS")
    for body in ({"containerAudioType": 1}, {"container_audio_type": "WAV"}):
        checked = check_object(body, schema, "audio")
        assert check_enum(checked["containerAudioType"], names, "x") == "WAV"
    with pytest.raises(ApiError, match="given twice"):
        check_object({"containerAudioType": 1, "container_audio_type": 1}, schema, "audio")
    with pytest.raises(ApiError, match=r"audio\.sampleRateHertz: expected an integer"):
        check_object({"sample_rate_hertz": "x"}, schema, "audio")
    with pytest.raises(ApiError, match="invalid value"):
        check_enum(3, names, "x")


def test_cli_options_reach_the_settings() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(
        [
            *("emulator", "--retry-after", "--v3-empty-response"),
            *("--v3-status-quota", "7", "--v3-status-window", "2.5"),
            *("--asr-xml-quota", "3", "--asr-xml-window", "4"),
            *("--op-error-codes", "4,13,14", "--op-error-undone-rate", "0.5"),
            *("--timestamp-resolution", "0", "--asr-xml-max-stream-bytes", "1000"),
            *("--asr-xml-locked-key", "locked"),
        ]
    )
    settings = settings_from_args(args, {})
    assert (settings.retry_after, settings.v3_empty_response) == (True, True)
    assert (settings.v3_status_quota, settings.v3_status_window_s) == (7, 2.5)
    assert (settings.asr_xml_quota, settings.asr_xml_window_s) == (3, 4.0)
    assert (settings.op_error_codes, settings.op_error_undone_rate) == ((4, 13, 14), 0.5)
    assert (settings.timestamp_resolution_s, settings.asr_xml_max_stream_bytes) == (0.0, 1000)
    assert settings.asr_xml_locked_keys == ("locked",)
    defaults = settings_from_args(parser.parse_args(["emulator"]), {})
    assert (defaults.retry_after, defaults.op_error_codes) == (False, (13, 3))
    assert (defaults.v3_status_quota, defaults.asr_xml_quota) == (5, 20)
