"""SpeechKit Cloud's legacy synchronous API, ``asr_xml``: the audio in the request, the
transcript in the answer (speechkit-api.md, section 5).

The audio is streamed from the local file with ``Transfer-Encoding: chunked`` (recognition
starts with the first chunk, and a body sent with Content-Length may not pass 1 MB), never
read whole; its Content-Type is the file's real format. The answer is XML: up to five
``variant``s, best first. The best is the transcript; all of them are kept in ``raw``.
``success="0"`` (still HTTP 200) means nothing was recognised: the recognition failed.
There are no timings, and no object storage is involved.

Its limits are our choice, not a documented number. Its documentation speaks of short
utterances (queries, addresses, dates), and accepts at most 1 MB with ``Content-Length``;
the service that replaced it, today's synchronous recognition, documents 30 s and 1 MB of
mono audio. We send the audio chunked (no size limit is documented that way) and allow
what today's service allows in time: at most ``ASR_XML_MAX_DURATION_S``. Anything longer
belongs to an asynchronous API, which is also cheaper per second and gives timings. The
server mixes every channel down to mono, so a stereo container is accepted (heard as one
channel), but raw LPCM must be mono: its Content-Type (``audio/x-pcm;bit=16;rate=N``) has
no way to say how many channels it holds, and only 8 and 16 kHz have a Content-Type at all.
"""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp

from orchestrator.core import constants as c
from orchestrator.core.apis import ApiSpec, ConcurrencyDecl, QuotaDecl, QuotaKind
from orchestrator.core.constants import ASR_XML_PATH
from orchestrator.core.decisions import NotFoundMeans
from orchestrator.core.transcript import Transcript, Utterance

from .base import LocalAudio, OperationStatus, SubmitRequest, Submitted
from .errors import ErrorKind, SpeechKitError, operation_error
from .http import Answer, Http

ASR_XML_MAX_DURATION_S = 30.0
ASR_XML_PCM_RATES = (8000, 16000)
# The legacy API's request rate was never published: today's synchronous recognition
# quota is assumed.
REQUESTS = QuotaDecl(
    name="asr_xml",
    title="asr_xml requests",
    kind=QuotaKind.RATE,
    limit=c.SYNC_REQUESTS_PER_SECOND,
    window_s=1.0,
    config_key="asr_xml_requests_per_second",
)
ASR_XML_SPEC = ApiSpec(
    name="asr_xml",
    title="the legacy synchronous asr_xml API",
    asynchronous=False,
    models=c.ASR_XML_TOPICS,
    languages=c.ASR_XML_LANGUAGES,
    several_languages=False,
    unsupported=("literature_text", "raw_results", "speaker_labeling", "text_normalization"),
    submit_quota=REQUESTS.name,
    # Synchronous: the answer to the submission is the transcript; nothing to poll or fetch.
    status_quota=None,
    result_quota=None,
    submit_endpoint="asr_xml",
    status_endpoint=None,
    result_endpoint=None,
    status_not_found=NotFoundMeans.WRONG,
    result_not_found=NotFoundMeans.WRONG,
    quotas=(REQUESTS,),
    # The legacy service is not asynchronous recognition: its daily audio quota is not ours.
    audio_quota=None,
    uploads=False,
    timings=False,
    max_duration_s=ASR_XML_MAX_DURATION_S,
    raw_pcm_rates=ASR_XML_PCM_RATES,
    # Each request holds a connection for the whole recognition.
    concurrency=ConcurrencyDecl(default=10, config_key="asr_xml_requests"),
    # The 32 hex digits this installation sends as its `uuid`, made once and kept.
    install_key="speechkit.asr_xml_uuid",
)
# Chunks of the body: small enough that the service hears the audio as it comes.
CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class Body:
    """What to send of a local file: its Content-Type and the byte range."""

    content_type: str
    offset: int
    length: int


def body_of(local: LocalAudio, sample_rate: int | None, channels: int) -> Body:
    """The Content-Type of the file's real format and the bytes to send (ValueError when
    the API has no Content-Type for it)."""
    if local.container == "ogg_opus":
        return Body("audio/ogg;codecs=opus", 0, local.size_bytes)
    if local.container == "mp3":
        return Body("audio/x-mpeg-3", local.data_offset, local.data_length)
    if local.container == "wav":
        # The whole file, header included: it tells the service the rate and channels.
        return Body("audio/x-wav", 0, local.size_bytes)
    if local.container == "raw":
        if sample_rate not in ASR_XML_PCM_RATES or channels != 1:
            raise ValueError(
                f"raw LPCM at {sample_rate} Hz with {channels} channel(s) has no asr_xml "
                "Content-Type (mono 8000 or 16000 Hz only)"
            )
        return Body(f"audio/x-pcm;bit=16;rate={sample_rate}", local.data_offset, local.data_length)
    raise ValueError(f"{local.container} audio has no asr_xml Content-Type")


def parse_answer(body: bytes) -> tuple[bool, list[tuple[float | None, str]]]:
    """``(success, [(confidence, text), ...])`` from the XML answer, best variant first.

    ValueError when the body is not that XML. A document type is refused before parsing:
    entity declarations are the one way XML text can make a parser do unbounded work.
    """
    head = body[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in body.lower():
        raise ValueError("the answer declares a document type; not the asr_xml answer")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise ValueError(f"the answer is not XML: {exc}") from exc
    if root.tag != "recognitionResults":
        raise ValueError(f"the answer is <{root.tag}>, not <recognitionResults>")
    variants = []
    for node in root.iter("variant"):
        raw = node.get("confidence")
        try:
            confidence = float(raw) if raw is not None else None
        except ValueError:
            confidence = None
        variants.append((confidence, " ".join((node.text or "").split())))
    return root.get("success") == "1", variants


def transcript_of(variants: list[tuple[float | None, str]]) -> Transcript:
    """The best variant as a one-utterance transcript without timings; every variant
    kept in ``raw``."""
    raw = {"variants": [{"text": text, "confidence": conf} for conf, text in variants]}
    best = variants[0][1] if variants else ""
    utterances = (Utterance(channel=1, text=best, start=0.0, end=0.0),) if best else ()
    return Transcript(channels=(1,), utterances=utterances, raw=raw)


def to_send(
    request: SubmitRequest, key: str | None, device_uuid: str
) -> tuple[LocalAudio, Body, dict[str, str]]:
    """What to send for ``request``: the file, its Content-Type and byte range, and the
    query; a PERMANENT SpeechKitError when asr_xml cannot take the request."""
    local = request.local
    if local is None:
        raise SpeechKitError(ErrorKind.PERMANENT, "asr_xml needs the audio file itself")
    if not key:
        raise SpeechKitError(
            ErrorKind.PERMANENT,
            "asr_xml takes an API key only (speechkit.api_key_*), not an IAM token",
        )
    if not isinstance(request.language, str):
        raise SpeechKitError(ErrorKind.PERMANENT, "asr_xml takes one language code")
    try:
        body = body_of(local, request.sample_rate, request.channels)
    except ValueError as exc:
        raise SpeechKitError(ErrorKind.PERMANENT, str(exc)) from exc
    params = {
        "uuid": device_uuid,
        "key": key,
        "topic": request.model,
        "lang": request.language,
        # The API removes profanity unless told not to; our setting masks it on request.
        "disableAntimat": "false" if request.profanity_filter else "true",
    }
    return local, body, params


def submitted_from(answer: Answer) -> Submitted:
    """The transcript the answer carries; RETRYABLE when the answer is not the XML,
    an operation error when nothing was recognised."""
    request_id = answer.request_id or answer.client_request_id
    try:
        success, variants = parse_answer(answer.body)
    except ValueError as exc:
        raise answer.retryable(f"recognize: {exc}", with_status=True) from exc
    if not success:
        raise operation_error(
            None,
            'nothing was recognised: asr_xml answered success="0" (silence, or audio '
            "it could not decode)",
            request_id=answer.request_id,
            client_request_id=answer.client_request_id,
        )
    return Submitted(request_id, answer.request_id, transcript_of(variants))


async def _chunks(
    read: Callable[[], Iterator[bytes]], failed: list[Exception]
) -> AsyncIterator[bytes]:
    """The file's chunks, each read in a worker thread (a file read must not block the
    loop); a read that fails is kept in ``failed`` for the caller to report."""
    source = read()
    done = object()
    try:
        while True:
            try:
                chunk = await asyncio.to_thread(next, source, done)
            except Exception as exc:
                failed.append(exc)
                raise
            if chunk is done:
                return
            assert isinstance(chunk, bytes)
            yield chunk
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()


class AsrXmlClient:
    """asr_xml over an aiohttp session the caller owns.

    ``api_key`` returns the key (sent as ``key=`` in the query: the API takes no header);
    ``device_uuid`` is the 32 hex digits this installation sends as ``uuid``.
    """

    profile = ASR_XML_SPEC

    def __init__(
        self,
        session: aiohttp.ClientSession,
        asr_xml_url: str,
        api_key: Callable[[], str | None],
        device_uuid: str,
        timeout_s: float = 30.0,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = Http(session, None, timeout_s, clock=clock, request_id_header="X-YaRequestId")
        self._url = asr_xml_url.rstrip("/") + ASR_XML_PATH
        self._api_key = api_key
        self._uuid = device_uuid

    async def submit(self, request: SubmitRequest) -> Submitted:
        """Send the audio and read the transcript from the answer."""
        local, body, params = to_send(request, self._api_key(), self._uuid)
        failed: list[Exception] = []

        def read() -> Iterator[bytes]:
            return local.read(body.offset, body.length)

        try:
            answer = await self._http.request(
                "POST",
                self._url,
                "recognize",
                params=params,
                data=_chunks(read, failed),
                headers={"Content-Type": body.content_type},
            )
        except SpeechKitError as exc:
            if failed:
                raise SpeechKitError(
                    ErrorKind.PERMANENT,
                    f"reading the audio to send failed: {failed[0]}",
                    client_request_id=exc.client_request_id,
                ) from exc
            raise
        return submitted_from(answer)

    async def get_operation(self, operation_id: str) -> OperationStatus:
        """Nothing to check: the answer to the submission was the result."""
        raise SpeechKitError(ErrorKind.PERMANENT, "asr_xml has no operations to check")

    def result_of(self, status: OperationStatus) -> Transcript | None:
        """No operations: no status carries a result."""
        return None

    async def fetch_result(
        self, operation_id: str, *, speaker_labeling: bool = False
    ) -> Transcript:
        """Nothing to fetch: the result came with the answer (and was kept)."""
        raise SpeechKitError(ErrorKind.PERMANENT, "asr_xml keeps no results to fetch")

    async def delete_result(self, operation_id: str) -> None:
        """The service keeps nothing: nothing to delete."""

    def from_cache(self, payload: Any) -> Transcript | None:
        """Results were never cached in another shape."""
        return None
