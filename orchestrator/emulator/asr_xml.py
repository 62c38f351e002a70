"""The legacy synchronous API: ``POST /asr_xml?uuid=&key=&topic=&lang=&disableAntimat=``.

The body is the audio, its format in ``Content-Type``; with ``Content-Length`` at most 1 MB,
with ``Transfer-Encoding: chunked`` up to ``asr_xml_max_stream_bytes``, read as a stream.
The answer is HTTP 200 ``text/xml`` with up to 5 ``<variant>``s, best first, after a
processing time taken from the audio's duration; ``success="0"`` (still 200) for audio with
nothing to recognise (silence, undecodable bytes, an injected failure). For streamable
formats sent chunked, recognition runs while the audio arrives (the legacy documentation:
it starts with the first chunk), so only what is left of the processing time follows the
last chunk; WAV and MP3 are recognised only once complete, as that documentation says.

Errors (the legacy service's are not documented; see docs/emulator.md): a missing or unknown
``key`` is HTTP 400 with code 16, as a community client of the sibling synthesis API maps
400 to "key banned or inactive"; a locked key (``asr_xml_locked_keys``) is 423 ("key
locked" in that client) with code 7; bad parameters are 400 with code 3; a body over the
limit is 413; a format the emulator cannot decode is 415. Bodies are the emulator's usual
JSON error shape.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from aiohttp import web

from orchestrator.core import constants
from orchestrator.emulator.audio import (
    AudioDecodeError,
    ProbedAudio,
    UnsupportedFormatError,
    probe_content_type,
    require_decodable,
)
from orchestrator.emulator.core import Emulator, emulator_of, matches
from orchestrator.emulator.errors import ApiError, invalid
from orchestrator.emulator.processor import inline_object
from orchestrator.emulator.synth import RenderOptions, utterances

_UUID = re.compile(r"[0-9a-fA-F]{32}")
_STREAMABLE = frozenset(constants.ASR_XML_CONTENT_TYPES) - {"audio/x-wav", "audio/x-mpeg-3"}


def normalise_content_type(value: str) -> str | None:
    """``type;param=value;...`` in the documented spelling (parameters in the documented
    order, no spaces, lower case), or None when it is none of the documented types."""
    kind, *params = [part.strip().lower() for part in value.split(";")]
    given = dict(param.partition("=")[::2] for param in params if param)
    for documented in constants.ASR_XML_CONTENT_TYPES:
        doc_kind, *doc_params = documented.split(";")
        if kind == doc_kind and given == dict(p.partition("=")[::2] for p in doc_params):
            return documented
    return None


@dataclass(frozen=True)
class AsrXmlParams:
    """The query parameters of a valid request, defaults filled in."""

    uuid: str
    topic: str
    lang: str
    disable_antimat: bool


def parse_params(query: Any) -> AsrXmlParams:
    """Check uuid, topic, lang and disableAntimat; a 400 (code 3) names the bad one."""
    user = query.get("uuid", "")
    if not _UUID.fullmatch(user):
        raise invalid(f"uuid: {user!r} is not 32 hexadecimal digits")
    topic = query.get("topic", "")
    if topic not in constants.ASR_XML_TOPICS:
        raise invalid(f"topic: {topic!r} is not one of {', '.join(constants.ASR_XML_TOPICS)}")
    lang = query.get("lang", constants.ASR_XML_DEFAULT_LANGUAGE)
    if lang not in constants.ASR_XML_LANGUAGES:
        raise invalid(f"lang: {lang!r} is not one of {', '.join(constants.ASR_XML_LANGUAGES)}")
    antimat = query.get("disableAntimat", "false").lower()
    if antimat not in ("true", "false"):
        raise invalid(f"disableAntimat: {antimat!r} is not true or false")
    return AsrXmlParams(uuid=user, topic=topic, lang=lang, disable_antimat=antimat == "true")


def _check_key(emulator: Emulator, key: str) -> None:
    if matches(key, emulator.settings.asr_xml_locked_keys):
        raise ApiError(constants.GRPC_PERMISSION_DENIED, "key: the API key is locked", status=423)
    if not matches(key, emulator.settings.api_keys):
        # Never echo the key back.
        raise ApiError(
            constants.GRPC_UNAUTHENTICATED,
            "key: missing or invalid API key (send key=<API key> in the query)",
            status=400,
        )


def _too_long(limit: int, what: str) -> ApiError:
    message = f"audio: more than {limit} bytes {what}"
    return ApiError(constants.GRPC_INVALID_ARGUMENT, message, status=413)


async def _read_body(request: web.Request, limit: int, what: str) -> tuple[bytes, float]:
    """The whole body as it streams in, and when its first bytes came; 413 past ``limit``."""
    parts: list[bytes] = []
    size = 0
    first: float | None = None
    async for part in request.content.iter_any():
        first = first if first is not None else time.monotonic()
        size += len(part)
        if size > limit:
            raise _too_long(limit, what)
        parts.append(part)
    return b"".join(parts), first if first is not None else time.monotonic()


def variants(
    content_hash: str, audio: ProbedAudio, params: AsrXmlParams
) -> list[tuple[float, str]]:
    """Up to 5 (confidence, text) hypotheses, best first, seeded by the audio."""
    options = RenderOptions(language=params.lang, profanity_filter=not params.disable_antimat)
    words = [
        word.text
        for utterance in utterances(content_hash, audio.duration_s, 1, options)
        for word in utterance.words
        # The legacy filter removed profanity rather than masking it.
        if not (options.profanity_filter and set(word.text) == {"*"})
    ]
    rng = random.Random(f"{content_hash}:asr_xml:{params.topic}")
    best = round(rng.uniform(0.55, 0.95), 2)
    result = [(best, " ".join(words))]
    for rank in range(1, rng.randint(1, constants.ASR_XML_MAX_VARIANTS)):
        other = list(words)
        if len(other) > 1:
            # A worse hypothesis: one word dropped or repeated.
            index = rng.randrange(1, len(other))
            other[index : index + 1] = [] if rng.random() < 0.5 else [other[index]] * 2
        result.append((round(best * 0.3**rank, 2), " ".join(other)))
    return result


def render(found: list[tuple[float, str]] | None) -> str:
    """The XML answer; ``success="0"`` when ``found`` is None."""
    if found is None:
        return '<recognitionResults success="0"/>\n'
    lines = [
        f"\t<variant confidence={quoteattr(f'{confidence:g}')}>{escape(text)}</variant>"
        for confidence, text in found
    ]
    return '<recognitionResults success="1">\n' + "\n".join(lines) + "\n</recognitionResults>\n"


def _content_type(raw_type: str | None) -> str:
    """The request's audio format in its documented spelling; 400 when it is none of the
    documented ones, 415 when the emulator cannot decode it."""
    if not raw_type:
        raise invalid("Content-Type: required (the audio format)")
    content_type = normalise_content_type(raw_type)
    if content_type is None:
        allowed = ", ".join(constants.ASR_XML_CONTENT_TYPES)
        raise invalid(f"Content-Type: {raw_type!r} is not one of {allowed}")
    try:
        # Refused before the body is read; the message says which formats do work.
        require_decodable(content_type)
    except UnsupportedFormatError as exc:
        raise ApiError(constants.GRPC_INVALID_ARGUMENT, str(exc), status=415) from exc
    return content_type


def _body_limit(emulator: Emulator, chunked: bool, content_length: int | None) -> tuple[int, str]:
    """The most bytes the body may have, and how to say so; a declared length over it is
    a 413 before anything is read."""
    if chunked:
        return emulator.settings.asr_xml_max_stream_bytes, "in a chunked body"
    limit, what = constants.ASR_XML_MAX_BODY_BYTES, "with Content-Length (send it chunked)"
    if (content_length or 0) > limit:
        raise _too_long(limit, what)
    return limit, what


async def _recognise(
    emulator: Emulator,
    body: bytes,
    content_type: str,
    params: AsrXmlParams,
    streamed_since: float | None,
) -> tuple[ProbedAudio | None, list[tuple[float, str]] | None]:
    """The audio as probed (None when undecodable) and, after the processing time, the
    variants heard in it (None: nothing recognised). ``streamed_since``: when the first
    bytes came, for a body recognised while it arrived."""
    fetched = inline_object(body)
    try:
        audio = probe_content_type(fetched.file, fetched.size, content_type)
    except AudioDecodeError:
        return None, None
    # The server hears every channel mixed down to one.
    heard = ProbedAudio(audio.duration_s, 1, audio.silent)
    processing_s = emulator.processor.processing_seconds(heard, deferred=False)
    if streamed_since is not None:
        processing_s -= time.monotonic() - streamed_since
    await emulator.processor.occupy(processing_s)
    if heard.silent or emulator.processor.draw_failure():
        return audio, None
    return audio, variants(fetched.sha256, heard, params)


async def recognize(request: web.Request) -> web.Response:
    """POST /asr_xml: read the audio, wait the processing time, answer the variants."""
    emulator = emulator_of(request)
    received_at = time.time()
    _check_key(emulator, request.query.get("key", ""))
    emulator.spend("asr_xml")
    params = parse_params(request.query)
    content_type = _content_type(request.headers.get("Content-Type"))
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    limit, what = _body_limit(emulator, chunked, request.content_length)
    body, first_byte = await _read_body(request, limit, what)
    streamed_since = first_byte if chunked and content_type in _STREAMABLE else None
    audio, found = await _recognise(emulator, body, content_type, params, streamed_since)
    finished_at = time.time()
    emulator.requests.asr_xml.append(
        {
            "uuid": params.uuid,
            "topic": params.topic,
            "lang": params.lang,
            "content_type": content_type,
            "bytes": len(body),
            "chunked": chunked,
            "audio_seconds": audio.duration_s if audio is not None else None,
            "success": found is not None,
            "received_at": received_at,
            "answered_at": finished_at,
        }
    )
    headers = {
        "X-YaRequestId": str(uuid.uuid4()),
        "X-YaUuid": params.uuid,
        "X-YaReqFinish": f"{finished_at:.6f}",
    }
    return web.Response(
        text=render(found), content_type="text/xml", charset="utf-8", headers=headers
    )


def add_routes(app: web.Application) -> None:
    """Register the asr_xml endpoint on ``app``."""
    app.router.add_post(constants.ASR_XML_PATH, recognize)
