"""What is done to a recording before the service hears it (pure): each rule of
``intake.preparation`` on facts built by hand, the lines ``validate`` prints, and ``plan``'s
counting of parts and conversion time."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from orchestrator.commands.plan import estimate, plan_windows
from orchestrator.core.audio import AudioFacts
from orchestrator.core.constants import (
    BILLING_MIN_S_PER_PAIR,
    CONVERSION_AUDIO_S_PER_CPU_S,
    MAX_DURATION_S,
    MAX_FILE_BYTES,
)
from orchestrator.core.settings import RecognitionSettings
from orchestrator.intake.audio import AudioError, TooLong, Unsupported
from orchestrator.intake.jobspec import JobSpec
from orchestrator.intake.preparation import (
    Preparation,
    decide,
    duration_label,
    needs_media,
    part_limit,
)
from orchestrator.media.errors import MediaError
from orchestrator.media.probe import MediaInfo
from orchestrator.speechkit import CATALOGUE

PATH = Path("/calls/one.wav")
V2 = CATALOGUE["v2"]
ASR_XML = CATALOGUE["asr_xml"]
LIMIT = V2.max_duration_s


def wav(duration_s: float = 60.0, channels: int = 1, rate: int = 16000) -> AudioFacts:
    """16-bit PCM WAV facts, as the native probe finds them."""
    length = round(duration_s * rate * channels * 2)
    return AudioFacts("LINEAR16_PCM", duration_s, channels, rate, 44, length, "wav", length + 44)


def ogg(duration_s: float = 60.0) -> AudioFacts:
    """Ogg Opus facts (a compressed format the service takes as it is)."""
    return AudioFacts("OGG_OPUS", duration_s, 1, 48000, 0, 500_000, "ogg_opus", 500_000)


def mp3(duration_s: float = 60.0) -> AudioFacts:
    """MP3 facts (another compressed format the service takes as it is)."""
    return AudioFacts("MP3", duration_s, 2, 44100, 0, 900_000, "mp3", 900_000)


def media(
    duration_s: float = 60.0, channels: int = 2, rate: int = 8000, promised_s: float | None = None
) -> MediaInfo:
    """What FFmpeg finds in a µ-law WAV."""
    return MediaInfo(
        "wav", "pcm_mulaw", "µ-law WAV", channels, rate, duration_s, False, 8, promised_s
    )


def mulaw_refused() -> Unsupported:
    return Unsupported(PATH, "unsupported WAV encoding: mu-law")


def settings(**values: object) -> RecognitionSettings:
    return RecognitionSettings(**values)  # type: ignore[arg-type]


# -- needs_media: whether FFmpeg looks at the file ------------------------------------------


def test_audio_the_api_takes_goes_as_it_is() -> None:
    assert not needs_media(wav(), settings(), V2, LIMIT)
    prepared = decide(PATH, settings(), V2, LIMIT, wav())
    assert prepared == Preparation(wav())
    assert not prepared.split
    assert prepared.describe() is None


def test_convert_always_converts_even_what_the_api_takes() -> None:
    assert needs_media(wav(), settings(convert="always"), V2, LIMIT)
    assert needs_media(ogg(), settings(convert="always"), V2, LIMIT)


def test_convert_never_never_asks_ffmpeg_and_keeps_the_refusal() -> None:
    assert not needs_media(wav(), settings(convert="never"), V2, LIMIT)
    refused = mulaw_refused()
    with pytest.raises(Unsupported) as caught:
        needs_media(refused, settings(convert="never"), V2, LIMIT)
    assert caught.value is refused


def test_convert_auto_answers_a_refusal_a_conversion_can_answer() -> None:
    assert needs_media(mulaw_refused(), settings(), V2, LIMIT)
    assert needs_media(TooLong(PATH, "lasts 5 h"), settings(), V2, LIMIT)


def test_a_refusal_no_conversion_answers_is_raised() -> None:
    broken = AudioError(PATH, "truncated WAV: the file ends in its header")
    for mode in ("auto", "always", "never"):
        with pytest.raises(AudioError) as caught:
            needs_media(broken, settings(convert=mode), V2, LIMIT)
        assert caught.value is broken


def test_more_than_a_gigabyte_as_it_is_is_converted() -> None:
    big = replace(wav(3600.0, 2, 48000), data_length=MAX_FILE_BYTES + 1)
    assert needs_media(big, settings(), V2, LIMIT)
    assert not needs_media(replace(big, data_length=MAX_FILE_BYTES), settings(), V2, LIMIT)


def test_a_wav_to_split_is_cut_by_its_bytes_for_an_api_that_fetches_it() -> None:
    long = wav(5 * 3600.0)
    assert not needs_media(long, settings(), V2, LIMIT)
    prepared = decide(PATH, settings(), V2, LIMIT, long)
    assert prepared.parts == 2
    assert not prepared.facts.converted


@pytest.mark.parametrize("facts", [ogg(5 * 3600.0), mp3(5 * 3600.0)])
def test_a_compressed_recording_to_split_is_converted_in_parts(facts: AudioFacts) -> None:
    # Only raw samples are cut by their bytes: a part of Ogg Opus or MP3 is a conversion.
    assert needs_media(facts, settings(), V2, LIMIT)
    found = media(facts.duration_s, facts.channels, facts.sample_rate)
    prepared = decide(PATH, settings(), V2, LIMIT, facts, found, 10**8)
    assert prepared.facts.converted
    assert prepared.facts.encoding == "OGG_OPUS"
    assert prepared.parts == 2
    # Within the limit it goes as it is.
    assert not needs_media(replace(facts, duration_s=60.0), settings(), V2, LIMIT)


def test_an_api_taking_the_audio_in_its_request_gets_converted_parts() -> None:
    limit = part_limit(ASR_XML, None)
    clip = wav(45.0)
    assert needs_media(clip, settings(api="asr_xml"), ASR_XML, limit)
    found = media(45.0, 1, 16000)
    prepared = decide(PATH, settings(api="asr_xml"), ASR_XML, limit, clip, found, 10**6)
    assert prepared.facts.converted
    assert (prepared.parts, prepared.limit_s) == (2, ASR_XML.max_duration_s)
    assert prepared.describe() == (
        "µ-law WAV, 16 kHz, 1 channel: converted to Ogg Opus; 45 s: split into 2 parts"
    )
    # Within the limit it goes as it is.
    assert not needs_media(wav(20.0), settings(api="asr_xml"), ASR_XML, limit)


def test_split_never_sends_a_long_compressed_recording_whole_and_unconverted() -> None:
    long = ogg(MAX_DURATION_S - 60.0)
    limit = 3600.0
    assert not needs_media(long, settings(split="never"), V2, limit)
    assert decide(PATH, settings(split="never"), V2, limit, long) == Preparation(long)


# -- decide: the preparation ---------------------------------------------------------------


def test_a_converted_file_takes_the_targets_shape_and_the_files_size() -> None:
    prepared = decide(PATH, settings(), V2, LIMIT, mulaw_refused(), media(), 4321)
    facts = prepared.facts
    assert (facts.encoding, facts.sample_rate, facts.channels) == ("OGG_OPUS", 8000, 2)
    assert facts.conversion == "ogg-opus-8000-2ch-32000-v1"
    assert (facts.data_length, facts.size_bytes, facts.duration_s) == (4321, 4321, 60.0)
    assert prepared.describe() == "µ-law WAV, 8 kHz, 2 channels: converted to Ogg Opus"


@pytest.mark.parametrize(
    ("duration_s", "limit_s", "parts"),
    [(14400.5, 14400.0, 2), (28800.0, 14400.0, 2), (28800.1, 14400.0, 3), (100.0, 30.0, 4)],
)
def test_over_the_limit_is_split_into_the_fewest_parts(
    duration_s: float, limit_s: float, parts: int
) -> None:
    prepared = decide(PATH, settings(), V2, limit_s, wav(duration_s))
    assert prepared.parts == parts == math.ceil(duration_s / limit_s)
    assert prepared.limit_s == limit_s
    assert prepared.split


def test_the_limit_itself_is_not_split() -> None:
    assert decide(PATH, settings(), V2, 60.0, wav(60.0)).parts == 1


def test_describe_says_the_conversion_and_the_split() -> None:
    long = media(4 * 3600 + 37 * 60, 2, 8000)
    prepared = decide(PATH, settings(), V2, LIMIT, mulaw_refused(), long, 10**8)
    assert prepared.describe() == (
        "µ-law WAV, 8 kHz, 2 channels: converted to Ogg Opus; 4 h 37 min: split into 2 parts"
    )
    split_only = decide(PATH, settings(), V2, LIMIT, wav(4 * 3600 + 37 * 60))
    assert split_only.describe() == "4 h 37 min: split into 2 parts"


def test_split_never_keeps_todays_refusal_of_a_long_recording() -> None:
    with pytest.raises(TooLong, match="SpeechKit accepts at most 4 h"):
        decide(PATH, settings(split="never"), V2, LIMIT, wav(5 * 3600.0))


def test_split_never_sends_a_long_conversion_whole() -> None:
    # Converted, the API's own limit is reported as for any job (validate's audio problems).
    prepared = decide(
        PATH, settings(split="never"), V2, LIMIT, mulaw_refused(), media(5 * 3600.0), 10**8
    )
    assert prepared.parts == 1
    assert prepared.facts.converted


def test_no_samples_is_refused() -> None:
    with pytest.raises(AudioError, match="zero duration"):
        decide(PATH, settings(), V2, LIMIT, wav(0.0))


def test_a_native_refusal_without_ffmpegs_finding_is_raised() -> None:
    refused = mulaw_refused()
    with pytest.raises(Unsupported) as caught:
        decide(PATH, settings(), V2, LIMIT, refused)
    assert caught.value is refused


def test_audio_well_short_of_its_headers_promise_is_refused_as_truncated() -> None:
    short = media(1.0, promised_s=2.0)
    with pytest.raises(MediaError, match=r"truncated: its audio ends at 1\.0 s, its header"):
        decide(PATH, settings(), V2, LIMIT, mulaw_refused(), short, 100)
    liar = media(0.1, promised_s=100 * 3600.0)
    with pytest.raises(MediaError, match=r"^/calls/one\.wav: is truncated"):
        decide(PATH, settings(), V2, LIMIT, mulaw_refused(), liar, 100)
    # Within the slack an encoder's delay or a bit-rate estimate leaves: taken.
    close = media(1.9, promised_s=2.0)
    assert decide(PATH, settings(), V2, LIMIT, mulaw_refused(), close, 100).facts.converted


def test_part_limit_is_the_apis_or_the_configured_one_when_lower() -> None:
    assert part_limit(V2, None) == MAX_DURATION_S
    assert part_limit(V2, 600.0) == 600.0
    assert part_limit(ASR_XML, 600.0) == ASR_XML.max_duration_s


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (4 * 3600 + 37 * 60 + 10, "4 h 37 min"),
        (3 * 3600, "3 h"),
        (12 * 60 + 5, "12 min 5 s"),
        (120, "2 min"),
        (31.2, "31 s"),
        (9.94, "9.9 s"),
    ],
)
def test_duration_label(seconds: float, said: str) -> None:
    assert duration_label(seconds) == said


# -- plan ---------------------------------------------------------------------------------


def job(name: str, **values: object) -> JobSpec:
    return JobSpec(f"/calls/{name}", name, settings(**values), 1)


def test_plan_counts_each_part_as_a_submission_billed_on_its_own() -> None:
    windows = plan_windows(None)
    long = decide(PATH, settings(), V2, 20.0, wav(50.0))  # 3 parts of about 16.7 s
    short = decide(PATH, settings(), V2, 20.0, wav(10.0))
    infos = {"/calls/long": long, "/calls/short": short}
    got = estimate([job("long"), job("short")], infos, windows)
    assert got.jobs_by_api["v2"] == 4
    assert (got.split_files, got.parts) == (1, 3)
    # Each part billed on its own: the 15 s minimum counts per part.
    assert got.billable_s == pytest.approx(
        3 * max(50.0 / 3, BILLING_MIN_S_PER_PAIR) + max(10.0, BILLING_MIN_S_PER_PAIR)
    )
    tiny = decide(PATH, settings(), V2, 10.0, wav(40.0))  # 4 parts of 10 s: 15 s each
    assert estimate([job("long")], {"/calls/long": tiny}, windows).billable_s == 4 * 15.0


def test_plan_waits_for_the_conversions_when_they_take_longer() -> None:
    windows = plan_windows(None)
    hour = 3600.0
    converted = decide(PATH, settings(), V2, LIMIT, mulaw_refused(), media(hour, 2), 10**7)
    jobs = [job(f"call{i}") for i in range(50)]
    infos = {spec.source: converted for spec in jobs}
    one = estimate(jobs, infos, windows, conversions=1)
    assert one.converted_files == 50
    assert one.conversion_s == pytest.approx(50 * hour * 2 / CONVERSION_AUDIO_S_PER_CPU_S)
    assert one.finish_s == pytest.approx(one.conversion_s)
    # With more workers the conversions no longer bind: the quotas' pace does.
    many = estimate(jobs, infos, windows, conversions=1000)
    assert many.conversion_s == pytest.approx(one.conversion_s / 1000)
    assert many.finish_s > many.conversion_s
    as_is = {spec.source: decide(PATH, settings(), V2, LIMIT, wav(hour, 2)) for spec in jobs}
    plain = estimate(jobs, as_is, windows)
    assert plain.conversion_s == 0.0
    assert many.finish_s == pytest.approx(plain.finish_s)
