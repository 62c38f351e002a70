"""API v2: ``POST /speech/stt/v2/longRunningRecognize`` (validation, defaults, submission).

Field names: protobuf's JSON parser accepts a field's proto (snake_case) name beside its JSON
(lowerCamelCase) name, and ``literature_text`` has its proto name as JSON name, so
``literatureText`` is accepted too. Language codes are matched case-insensitively, as the
documentation says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from orchestrator.core import constants
from orchestrator.emulator.audio import ProbedAudio
from orchestrator.emulator.errors import invalid
from orchestrator.emulator.processor import Recognition
from orchestrator.emulator.storage import ObjectRef, parse_object_uri
from orchestrator.emulator.submission import open_operation, start_recognition
from orchestrator.emulator.synth import RenderOptions, synthesize
from orchestrator.emulator.validation import Kind, check_object

# JSON name -> (canonical name, kind); proto names are accepted too, as protobuf JSON does.
_REQUEST: dict[str, tuple[str, Kind]] = {
    "config": ("config", "object"),
    "audio": ("audio", "object"),
}
_CONFIG: dict[str, tuple[str, Kind]] = {
    "specification": ("specification", "object"),
    "folderId": ("folderId", "string"),
    "folder_id": ("folderId", "string"),
}
_SPEC: dict[str, tuple[str, Kind]] = {
    "languageCode": ("languageCode", "string"),
    "language_code": ("languageCode", "string"),
    "model": ("model", "string"),
    "profanityFilter": ("profanityFilter", "bool"),
    "profanity_filter": ("profanityFilter", "bool"),
    # The proto sets json_name = "literature_text"; the parser takes the camelCase too.
    "literature_text": ("literature_text", "bool"),
    "literatureText": ("literature_text", "bool"),
    "audioEncoding": ("audioEncoding", "string"),
    "audio_encoding": ("audioEncoding", "string"),
    "sampleRateHertz": ("sampleRateHertz", "int"),
    "sample_rate_hertz": ("sampleRateHertz", "int"),
    "audioChannelCount": ("audioChannelCount", "int"),
    "audio_channel_count": ("audioChannelCount", "int"),
    "rawResults": ("rawResults", "bool"),
    "raw_results": ("rawResults", "bool"),
    # Streaming-only switches that the proto has; accepted and ignored.
    "partialResults": ("partialResults", "bool"),
    "partial_results": ("partialResults", "bool"),
    "singleUtterance": ("singleUtterance", "bool"),
    "single_utterance": ("singleUtterance", "bool"),
}
_AUDIO: dict[str, tuple[str, Kind]] = {
    "uri": ("uri", "string"),
    "content": ("content", "string"),
}

LANGUAGES = ("auto", *constants.RECOGNITION_LANGUAGES)
_LANGUAGE_BY_LOWER = {code.lower(): code for code in LANGUAGES}
MAX_LPCM_CHANNELS = 8
_SPEC_PATH = "config.specification"


@dataclass(frozen=True)
class V2Request:
    """A valid v2 submission with every default filled in."""

    ref: ObjectRef
    model: str
    encoding: str
    sample_rate: int
    channels: int
    options: RenderOptions


def parse_request(body: Any) -> V2Request:
    """Check a v2 request body; raises a 400 ApiError naming the offending field."""
    request = check_object(body, _REQUEST, "")
    config = check_object(request.get("config", {}), _CONFIG, "config")
    spec = check_object(config.get("specification", {}), _SPEC, _SPEC_PATH)
    audio = check_object(request.get("audio", {}), _AUDIO, "audio")
    language = _language(spec)
    model = spec.get("model", constants.DEFAULT_MODEL)
    if model not in constants.MODELS:
        raise invalid(
            f"{_SPEC_PATH}.model: unknown model {model!r} (known: {', '.join(constants.MODELS)})"
        )
    encoding, rate, channels = _audio_format(spec)
    return V2Request(
        ref=_object_ref(audio),
        model=model,
        encoding=encoding,
        sample_rate=rate or constants.DEFAULT_SAMPLE_RATE,
        channels=channels or 1,
        options=RenderOptions(
            language=language,
            raw_results=spec.get("rawResults", False),
            literature_text=spec.get("literature_text", False),
            profanity_filter=spec.get("profanityFilter", False),
        ),
    )


def _language(spec: dict[str, Any]) -> str:
    """The specification's language code in its documented spelling."""
    given_language = spec.get("languageCode", constants.DEFAULT_LANGUAGE)
    language = _LANGUAGE_BY_LOWER.get(given_language.lower())
    if language is None:
        raise invalid(
            f"{_SPEC_PATH}.languageCode: unsupported language {given_language!r} "
            f"(supported: {', '.join(LANGUAGES)})"
        )
    return language


def _audio_format(spec: dict[str, Any]) -> tuple[str, int | None, int | None]:
    """The specification's encoding, sample rate and channel count (None when not given),
    checked against each other."""
    encoding = spec.get("audioEncoding", "OGG_OPUS")
    if encoding not in constants.ENCODINGS:
        raise invalid(
            f"{_SPEC_PATH}.audioEncoding: unknown encoding {encoding!r} "
            f"(known: {', '.join(constants.ENCODINGS)})"
        )
    rate = spec.get("sampleRateHertz")
    if rate is None and encoding == "LINEAR16_PCM":
        raise invalid(f"{_SPEC_PATH}.sampleRateHertz: required for LINEAR16_PCM")
    if rate is not None and rate not in constants.LPCM_SAMPLE_RATES:
        allowed = ", ".join(str(r) for r in constants.LPCM_SAMPLE_RATES)
        raise invalid(f"{_SPEC_PATH}.sampleRateHertz: {rate} is not one of {allowed}")
    channels = spec.get("audioChannelCount")
    if channels is not None and encoding != "LINEAR16_PCM":
        raise invalid(
            f"{_SPEC_PATH}.audioChannelCount: only for LINEAR16_PCM; "
            f"{encoding} audio carries its own channel count"
        )
    if channels is not None and not 1 <= channels <= MAX_LPCM_CHANNELS:
        raise invalid(
            f"{_SPEC_PATH}.audioChannelCount: {channels} is not between 1 and {MAX_LPCM_CHANNELS}"
        )
    return encoding, rate, channels


def _object_ref(audio: dict[str, Any]) -> ObjectRef:
    """The object the request's ``audio`` names: a link into Object Storage."""
    if "content" in audio:
        raise invalid("audio.content: not supported by asynchronous recognition; use audio.uri")
    uri = audio.get("uri")
    if uri is None:
        raise invalid("audio.uri: required")
    ref = parse_object_uri(uri)
    if ref is None:
        raise invalid(
            f"audio.uri: {uri!r} is not an Object Storage link "
            f"{constants.STORAGE_URL}/<bucket>/<key>"
        )
    return ref


def response_body(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """A v2 LongRunningRecognitionResponse; no ``chunks`` key when nothing was recognised."""
    body: dict[str, Any] = {"@type": constants.V2_RESPONSE_TYPE}
    if chunks:
        body["chunks"] = chunks
    return body


async def submit(request: web.Request) -> web.Response:
    """POST /speech/stt/v2/longRunningRecognize: check, create the operation, answer it."""
    emulator, operation, parsed = await open_operation(request, "v2", parse_request)

    def recognise(content_hash: str, audio: ProbedAudio) -> Recognition:
        # Silence has nothing to recognise: the response comes without `chunks`.
        chunks = (
            []
            if audio.silent
            else synthesize(content_hash, audio.duration_s, audio.channels, parsed.options)
        )
        return Recognition(response=response_body(chunks))

    return start_recognition(
        emulator,
        operation,
        parsed,
        parsed.ref,
        deferred_models=constants.DEFERRED_MODELS,
        recognise=recognise,
    )


def add_routes(app: web.Application) -> None:
    """Register API v2's endpoints on ``app``."""
    app.router.add_post(constants.V2_SUBMIT_PATH, submit)
