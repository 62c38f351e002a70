"""What each API takes (core/apis.py over the catalogue of speechkit's specs), and the
settings' dedup key across versions."""

from __future__ import annotations

import dataclasses
import json

import pytest

from orchestrator.core.apis import audio_problems, setting_problems, source_problem
from orchestrator.core.audio import AudioFacts
from orchestrator.core.settings import RecognitionSettings
from orchestrator.speechkit import CATALOGUE
from orchestrator.speechkit.asr_xml import ASR_XML_MAX_DURATION_S

BASE = RecognitionSettings()


def settings(**changes: object) -> RecognitionSettings:
    return dataclasses.replace(BASE, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, []),
        ({"api": "v3", "speaker_labeling": True, "language": ("ru-RU", "en-US")}, []),
        ({"api": "v3", "language": "auto", "model": "deferred-general:rc"}, []),
        ({"api": "asr_xml", "language": "uk-UK", "model": "maps", "profanity_filter": True}, []),
        ({"speaker_labeling": True}, ["speaker_labeling"]),
        ({"text_normalization": False}, ["text_normalization"]),
        ({"language": "auto"}, ["language"]),
        ({"language": ("ru-RU",)}, ["language"]),
        ({"model": "deferred-general:rc"}, ["model"]),
        ({"api": "v3", "raw_results": True}, ["raw_results"]),
        ({"api": "asr_xml", "literature_text": True}, ["literature_text"]),
        ({"api": "asr_xml", "language": "de-DE"}, ["language"]),
        ({"api": "asr_xml", "model": "general:rc"}, ["model"]),
        (
            {"api": "asr_xml", "speaker_labeling": True, "raw_results": True},
            ["raw_results", "speaker_labeling"],
        ),
    ],
)
def test_setting_problems(changes: dict[str, object], expected: list[str]) -> None:
    assert [name for name, _ in setting_problems(settings(**changes), CATALOGUE)] == expected


def test_the_message_names_the_setting_and_the_apis_that_take_it() -> None:
    ((name, message),) = setting_problems(settings(speaker_labeling=True), CATALOGUE)
    assert name == "speaker_labeling"
    assert message == "speaker_labeling is not available with api v2; it needs api v3"
    ((_, message),) = setting_problems(settings(api="asr_xml", literature_text=True), CATALOGUE)
    assert message.endswith("it needs api v2 or v3")


MONO = AudioFacts("OGG_OPUS", 10.0, 1, 48000, 0, 1000, "ogg_opus")


def test_audio_problems() -> None:
    assert audio_problems(settings(api="asr_xml"), MONO, CATALOGUE) == []
    stereo = dataclasses.replace(MONO, channels=2)
    assert audio_problems(settings(api="asr_xml"), stereo, CATALOGUE) == []  # mixed down to mono
    ((name, message),) = audio_problems(
        settings(api="v3", speaker_labeling=True), stereo, CATALOGUE
    )
    assert name == "speaker_labeling"
    assert "mono audio only; this file has 2 channels" in message
    long = dataclasses.replace(MONO, duration_s=ASR_XML_MAX_DURATION_S + 0.5)
    ((name, message),) = audio_problems(settings(api="asr_xml"), long, CATALOGUE)
    assert "at most 30 s: use api v2 or v3 (asynchronous)" in message
    assert audio_problems(settings(), long, CATALOGUE) == []
    raw = AudioFacts("LINEAR16_PCM", 1.0, 2, 48000, 0, 192000, "raw")
    found = [m for _, m in audio_problems(settings(api="asr_xml"), raw, CATALOGUE)]
    assert len(found) == 2
    assert "must be mono" in found[0]
    assert "must be 8000 or 16000 Hz" in found[1]
    wav = dataclasses.replace(raw, container="wav")
    assert audio_problems(settings(api="asr_xml"), wav, CATALOGUE) == []  # its header says it all


def test_only_apis_that_take_a_link_take_objects_in_storage() -> None:
    assert source_problem(settings(), True, CATALOGUE) is None
    assert source_problem(settings(api="v3"), True, CATALOGUE) is None
    assert "needs a local file" in (source_problem(settings(api="asr_xml"), True, CATALOGUE) or "")
    assert source_problem(settings(api="asr_xml"), False, CATALOGUE) is None


def test_facts_are_consistent() -> None:
    assert set(CATALOGUE) == {"v2", "v3", "asr_xml"}
    assert CATALOGUE["asr_xml"].timings is False
    assert all(spec.asynchronous == spec.uploads for spec in CATALOGUE.values())
    assert all(spec.models[0] in ("general", "queries") for spec in CATALOGUE.values())


# -- the settings' key ---------------------------------------------------------------------


def test_the_key_of_old_settings_is_unchanged_by_the_new_fields() -> None:
    # The key a row written before speaker_labeling and text_normalization existed had.
    old = {
        "language": "ru-RU",
        "model": "general",
        "profanity_filter": False,
        "literature_text": True,
        "raw_results": False,
        "encoding": None,
        "sample_rate": None,
        "channels": None,
        "api": "v2",
    }
    stored = json.dumps(old, sort_keys=True, separators=(",", ":"))
    assert RecognitionSettings.from_dict({**old, "priority": 3}).key() == stored
    assert settings(literature_text=True).key() == stored
    # A new setting at a value of its own changes the key: another recognition.
    assert settings(literature_text=True, api="v3", speaker_labeling=True).key() != stored


def test_a_language_list_round_trips_through_json() -> None:
    chosen = settings(api="v3", language=("ru-RU", "en-US"), text_normalization=False)
    data = json.loads(json.dumps(chosen.to_dict()))
    assert data["language"] == ["ru-RU", "en-US"]
    assert RecognitionSettings.from_dict(data) == chosen
    assert chosen.languages == ("ru-RU", "en-US")
    assert settings(language="auto").languages == ()
    assert BASE.languages == ("ru-RU",)
