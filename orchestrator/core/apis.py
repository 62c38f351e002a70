"""What each recognition API offers and accepts (pure): the one table that manifest checks,
``plan``, the outputs and the clients read, so a fact about an API lives in one place.

The limits of the legacy ``asr_xml`` API are our choice, not a documented number. Its
documentation speaks of short utterances (queries, addresses, dates), and accepts at most
1 MB with ``Content-Length``; the service that replaced it, today's synchronous recognition,
documents 30 s and 1 MB of mono audio. We send the audio chunked (no size limit is
documented that way) and allow what today's service allows in time: at most
``ASR_XML_MAX_DURATION_S``. Anything longer belongs to an asynchronous API, which is also
cheaper per second and gives timings. The server mixes every channel down to mono, so a
stereo container is accepted (heard as one channel), but raw LPCM must be mono: its
Content-Type (``audio/x-pcm;bit=16;rate=N``) has no way to say how many channels it holds,
and only 8 and 16 kHz have a Content-Type at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.core import constants as c
from orchestrator.core.audio import AudioFacts
from orchestrator.core.settings import Api, RecognitionSettings

ASR_XML_MAX_DURATION_S = 30.0
ASR_XML_PCM_RATES = (8000, 16000)
# Speaker labeling tells two speakers apart in one channel (the documentation's page).
SPEAKER_LABELING_MAX_CHANNELS = 1


@dataclass(frozen=True)
class ApiFacts:
    """What one API offers: how it is driven, what it gives back, what it accepts."""

    name: Api
    title: str
    asynchronous: bool  # an operation to poll; else the answer is the transcript
    uploads: bool  # the audio goes through object storage (else it is sent in the request)
    timings: bool  # word and utterance times (so subtitles can be written)
    models: tuple[str, ...]
    # Exact language codes it takes (None: any code shaped like xx-XX).
    languages: tuple[str, ...] | None
    several_languages: bool  # `auto` or a list of codes
    # Settings (by manifest key) it has no use for; a value other than the default is an error.
    unsupported: tuple[str, ...]
    max_duration_s: float = c.MAX_DURATION_S


V2 = ApiFacts(
    name="v2",
    title="asynchronous API v2",
    asynchronous=True,
    uploads=True,
    timings=True,
    models=c.MODELS,
    languages=c.RECOGNITION_LANGUAGES,
    several_languages=False,
    unsupported=("speaker_labeling", "text_normalization"),
)
V3 = ApiFacts(
    name="v3",
    title="asynchronous API v3",
    asynchronous=True,
    uploads=True,
    timings=True,
    models=c.V3_MODELS,
    languages=c.RECOGNITION_LANGUAGES,
    several_languages=True,
    # v3 has no rawResults: numbers are spelt out unless text normalisation is on.
    unsupported=("raw_results",),
)
ASR_XML = ApiFacts(
    name="asr_xml",
    title="the legacy synchronous asr_xml API",
    asynchronous=False,
    uploads=False,
    timings=False,
    models=c.ASR_XML_TOPICS,
    languages=c.ASR_XML_LANGUAGES,
    several_languages=False,
    unsupported=("literature_text", "raw_results", "speaker_labeling", "text_normalization"),
    max_duration_s=ASR_XML_MAX_DURATION_S,
)
FACTS: dict[str, ApiFacts] = {facts.name: facts for facts in (V2, V3, ASR_XML)}
# The default of each setting that an API may not support.
_DEFAULTS = RecognitionSettings()


def facts_of(api: str) -> ApiFacts:
    """The facts of ``api`` (KeyError for an unknown name)."""
    return FACTS[api]


def apis_with(setting: str) -> list[str]:
    """The APIs that take ``setting``."""
    return [name for name, facts in FACTS.items() if setting not in facts.unsupported]


def setting_problems(settings: RecognitionSettings) -> list[tuple[str, str]]:
    """``(setting, message)`` for each setting the job's API cannot honour."""
    facts = facts_of(settings.api)
    problems: list[tuple[str, str]] = []
    for name in facts.unsupported:
        value = getattr(settings, name)
        if value != getattr(_DEFAULTS, name):
            others = " or ".join(apis_with(name))
            problems.append(
                (name, f"{name} is not available with api {facts.name}; it needs api {others}")
            )
    language = settings.language
    several = isinstance(language, tuple) or language == c.AUTO_LANGUAGE
    unknown = [code for code in settings.languages if code not in (facts.languages or (code,))]
    if several and not facts.several_languages:
        what = "a list of languages" if isinstance(language, tuple) else "language auto"
        problems.append(
            ("language", f"{what} needs api v3; api {facts.name} takes one language code")
        )
    elif unknown:
        listed = ", ".join(facts.languages or ())
        problems.append(
            ("language", f"api {facts.name} takes one of {listed}; got {', '.join(unknown)}")
        )
    if settings.model not in facts.models:
        problems.append(
            (
                "model",
                f"api {facts.name} takes one of {', '.join(facts.models)}; got {settings.model}",
            )
        )
    return problems


def source_problem(settings: RecognitionSettings, in_storage: bool) -> str | None:
    """Why an object already in storage (``s3://``) cannot be recognised by the job's API."""
    facts = facts_of(settings.api)
    if in_storage and not facts.uploads:
        return (
            f"api {facts.name} sends the audio itself, so it needs a local file, not an "
            "object in storage; use api v2 or v3 for s3:// objects"
        )
    return None


def audio_problems(settings: RecognitionSettings, audio: AudioFacts) -> list[tuple[str, str]]:
    """``(setting, message)`` for each way the probed audio does not suit the job's API."""
    facts = facts_of(settings.api)
    problems: list[tuple[str, str]] = []
    if settings.speaker_labeling and audio.channels > SPEAKER_LABELING_MAX_CHANNELS:
        problems.append(
            (
                "speaker_labeling",
                f"speaker labeling works on mono audio only; this file has {audio.channels} "
                "channels (each channel is transcribed on its own anyway)",
            )
        )
    if audio.duration_s > facts.max_duration_s:
        problems.append(
            (
                "api",
                f"the audio lasts {audio.duration_s:.1f} s; {facts.title} takes clips of at "
                f"most {facts.max_duration_s:g} s: use api v2 or v3 (asynchronous) for it",
            )
        )
    if facts.name == "asr_xml" and audio.container == "raw":
        if audio.channels != 1:
            problems.append(
                (
                    "api",
                    f"raw LPCM for api asr_xml must be mono (this one has {audio.channels} "
                    "channels): send a WAV file, or use api v2 or v3",
                )
            )
        if audio.sample_rate not in ASR_XML_PCM_RATES:
            rates = " or ".join(str(r) for r in ASR_XML_PCM_RATES)
            problems.append(
                (
                    "api",
                    f"raw LPCM for api asr_xml must be {rates} Hz (this one is "
                    f"{audio.sample_rate} Hz): send a WAV file, or use api v2 or v3",
                )
            )
    return problems
