"""API v3: checking a ``RecognizeFileRequest`` (``stt.proto``) the way protobuf's JSON parser does.

Every field is accepted by its proto (snake_case) name and its JSON (lowerCamelCase) name, as
the documentation's own curl sample sends ``recognition_model`` and ``container_audio_type``;
enums by name or number. ``speechAnalysis``, ``recognitionClassifier`` and ``summarization``
must be objects and are otherwise ignored; so is ``audioProcessingType`` (the proto says
asynchronous recognition ignores it). Messages name fields by their JSON path.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from orchestrator.core import constants
from orchestrator.emulator.errors import invalid
from orchestrator.emulator.storage import ObjectRef, parse_object_uri
from orchestrator.emulator.validation import check_enum, check_object, proto_schema

_REQUEST = proto_schema(
    ("content", "string"),
    ("uri", "string"),
    ("recognition_model", "object"),
    ("recognition_classifier", "object"),
    ("speech_analysis", "object"),
    ("speaker_labeling", "object"),
    ("summarization", "object"),
)
_MODEL = proto_schema(
    ("model", "string"),
    ("audio_format", "object"),
    ("text_normalization", "object"),
    ("language_restriction", "object"),
    ("audio_processing_type", "enum"),
)
_FORMAT = proto_schema(("raw_audio", "object"), ("container_audio", "object"))
_RAW = proto_schema(
    ("audio_encoding", "enum"), ("sample_rate_hertz", "int"), ("audio_channel_count", "int")
)
_CONTAINER = proto_schema(("container_audio_type", "enum"))
_NORMALIZATION = proto_schema(
    ("text_normalization", "enum"),
    ("profanity_filter", "bool"),
    ("literature_text", "bool"),
    ("phone_formatting_mode", "enum"),
)
_LANGUAGE = proto_schema(("restriction_type", "enum"), ("language_code", "list"))
_SPEAKERS = proto_schema(("speaker_labeling", "enum"))

# Enum names in number order, from stt.proto.
ENCODINGS = ("AUDIO_ENCODING_UNSPECIFIED", "LINEAR16_PCM")
CONTAINERS = ("CONTAINER_AUDIO_TYPE_UNSPECIFIED", *constants.V3_CONTAINERS)
NORMALIZATION = (
    "TEXT_NORMALIZATION_UNSPECIFIED",
    "TEXT_NORMALIZATION_ENABLED",
    "TEXT_NORMALIZATION_DISABLED",
)
PHONE_FORMATTING = ("PHONE_FORMATTING_MODE_UNSPECIFIED", "PHONE_FORMATTING_MODE_DISABLED")
RESTRICTIONS = ("LANGUAGE_RESTRICTION_TYPE_UNSPECIFIED", "WHITELIST", "BLACKLIST")
SPEAKER_LABELING = (
    "SPEAKER_LABELING_UNSPECIFIED",
    "SPEAKER_LABELING_ENABLED",
    "SPEAKER_LABELING_DISABLED",
)
PROCESSING_TYPES = ("AUDIO_PROCESSING_TYPE_UNSPECIFIED", "REAL_TIME", "FULL_DATA")
MAX_RAW_CHANNELS = 8
_LANGUAGE_BY_LOWER = {code.lower(): code for code in constants.RECOGNITION_LANGUAGES}
_MODEL_PATH = "recognitionModel"
_FORMAT_PATH = "recognitionModel.audioFormat"


@dataclass(frozen=True)
class V3Request:
    """A valid v3 submission with every default filled in.

    ``encoding`` is ``audio.probe``'s name: WAV, OGG_OPUS, MP3 or LINEAR16_PCM.
    """

    source: ObjectRef | bytes
    model: str
    encoding: str
    sample_rate: int
    channels: int
    normalization: bool
    profanity_filter: bool
    literature_text: bool
    language: str
    speaker_labeling: bool


def parse_request(body: Any) -> V3Request:
    """Check a v3 request body; raises a 400 ApiError naming the offending field."""
    request = check_object(body, _REQUEST, "")
    for ignored in ("recognitionClassifier", "speechAnalysis", "summarization"):
        request.pop(ignored, None)
    source = _source(request)
    options = check_object(request.get("recognitionModel", {}), _MODEL, _MODEL_PATH)
    model = options.get("model") or constants.DEFAULT_MODEL
    if model not in constants.V3_MODELS:
        known = ", ".join(constants.V3_MODELS)
        raise invalid(f"{_MODEL_PATH}.model: unknown model {model!r} (known: {known})")
    if "audioProcessingType" in options:
        check_enum(options["audioProcessingType"], PROCESSING_TYPES, "audioProcessingType")
    encoding, rate, channels = _audio_format(options.get("audioFormat"))
    normalization = check_object(
        options.get("textNormalization", {}), _NORMALIZATION, f"{_MODEL_PATH}.textNormalization"
    )
    mode = check_enum(
        normalization.get("textNormalization", 0),
        NORMALIZATION,
        f"{_MODEL_PATH}.textNormalization.textNormalization",
    )
    check_enum(
        normalization.get("phoneFormattingMode", 0),
        PHONE_FORMATTING,
        f"{_MODEL_PATH}.textNormalization.phoneFormattingMode",
    )
    speakers = check_object(request.get("speakerLabeling", {}), _SPEAKERS, "speakerLabeling")
    labeling = check_enum(
        speakers.get("speakerLabeling", 0), SPEAKER_LABELING, "speakerLabeling.speakerLabeling"
    )
    return V3Request(
        source=source,
        model=model,
        encoding=encoding,
        sample_rate=rate,
        channels=channels,
        normalization=mode == "TEXT_NORMALIZATION_ENABLED",
        profanity_filter=normalization.get("profanityFilter", False),
        literature_text=normalization.get("literatureText", False),
        language=_language(options.get("languageRestriction")),
        speaker_labeling=labeling == "SPEAKER_LABELING_ENABLED",
    )


def _source(request: dict[str, Any]) -> ObjectRef | bytes:
    if "uri" in request and "content" in request:
        raise invalid("uri, content: set only one of them (oneof AudioSource)")
    if "content" in request:
        return _decode_content(request["content"])
    uri = request.get("uri")
    if uri is None:
        raise invalid("uri: required (or content, the audio inline)")
    ref = parse_object_uri(uri)
    if ref is None:
        raise invalid(
            f"uri: {uri!r} is not an Object Storage link {constants.STORAGE_URL}/<bucket>/<key>"
        )
    return ref


def _decode_content(text: str) -> bytes:
    limit = constants.MAX_INLINE_BYTES
    # Refuse before decoding what is bound to be too long.
    if len(text) * 3 // 4 > limit + 2:
        raise invalid(f"content: more than {limit} bytes of inline audio; use uri")
    # Protobuf JSON takes standard or URL-safe base64, with or without padding.
    normalised = text.strip().replace("-", "+").replace("_", "/")
    normalised += "=" * (-len(normalised) % 4)
    try:
        content = base64.b64decode(normalised, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise invalid(f"content: not valid base64 ({exc})") from exc
    if len(content) > limit:
        raise invalid(f"content: {len(content)} bytes of inline audio, more than {limit}")
    if not content:
        raise invalid("content: empty")
    return content


def _audio_format(value: Any) -> tuple[str, int, int]:
    if value is None:
        raise invalid(f"{_FORMAT_PATH}: required (rawAudio or containerAudio)")
    audio_format = check_object(value, _FORMAT, _FORMAT_PATH)
    if len(audio_format) != 1:
        raise invalid(f"{_FORMAT_PATH}: set exactly one of rawAudio, containerAudio")
    if "containerAudio" in audio_format:
        path = f"{_FORMAT_PATH}.containerAudio"
        container = check_object(audio_format["containerAudio"], _CONTAINER, path)
        kind = check_enum(
            container.get("containerAudioType", 0), CONTAINERS, f"{path}.containerAudioType"
        )
        if kind == CONTAINERS[0]:
            raise invalid(f"{path}.containerAudioType: required (WAV, OGG_OPUS or MP3)")
        return kind, constants.DEFAULT_SAMPLE_RATE, 1
    path = f"{_FORMAT_PATH}.rawAudio"
    raw = check_object(audio_format["rawAudio"], _RAW, path)
    encoding = check_enum(raw.get("audioEncoding", 0), ENCODINGS, f"{path}.audioEncoding")
    if encoding != "LINEAR16_PCM":
        raise invalid(f"{path}.audioEncoding: required (LINEAR16_PCM)")
    rate = raw.get("sampleRateHertz")
    if rate is None:
        raise invalid(f"{path}.sampleRateHertz: required for LINEAR16_PCM")
    if rate not in constants.LPCM_SAMPLE_RATES:
        allowed = ", ".join(str(r) for r in constants.LPCM_SAMPLE_RATES)
        raise invalid(f"{path}.sampleRateHertz: {rate} is not one of {allowed}")
    channels = raw.get("audioChannelCount", 1)
    if not 1 <= channels <= MAX_RAW_CHANNELS:
        raise invalid(
            f"{path}.audioChannelCount: {channels} is not between 1 and {MAX_RAW_CHANNELS}"
        )
    return "LINEAR16_PCM", rate, channels


def _language(value: Any) -> str:
    """The language the transcript is written in: the first allowed one, else ru-RU."""
    path = f"{_MODEL_PATH}.languageRestriction"
    if value is None:
        return constants.DEFAULT_LANGUAGE
    restriction = check_object(value, _LANGUAGE, path)
    kind = check_enum(
        restriction.get("restrictionType", 0), RESTRICTIONS, f"{path}.restrictionType"
    )
    codes: list[str] = []
    for index, code in enumerate(restriction.get("languageCode", [])):
        known = _LANGUAGE_BY_LOWER.get(code.lower()) if isinstance(code, str) else None
        if known is None:
            raise invalid(
                f"{path}.languageCode[{index}]: unsupported language {code!r} "
                f"(supported: {', '.join(constants.RECOGNITION_LANGUAGES)})"
            )
        codes.append(known)
    if kind == "BLACKLIST":
        allowed = [c for c in constants.RECOGNITION_LANGUAGES if c not in codes]
        return allowed[0] if allowed else constants.DEFAULT_LANGUAGE
    return codes[0] if codes else constants.DEFAULT_LANGUAGE
