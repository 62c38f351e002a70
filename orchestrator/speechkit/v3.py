"""SpeechKit asynchronous recognition, API v3 (REST): recognizeFileAsync, the Operation
service, getRecognition, deleteRecognition.

The finished Operation carries no transcript (the method returns google.protobuf.Empty):
the result is asked of getRecognition, once the Operation says done (asking earlier is
undocumented; community clients take its 404 as "not ready"). Both requests spend v3's
own status quota (5 per second; which endpoints count is not documented, so both do).
"""

from __future__ import annotations

from typing import Any

from orchestrator.core import constants as c
from orchestrator.core.apis import ApiSpec, QuotaDecl, QuotaKind
from orchestrator.core.constants import V3_DELETE_PATH, V3_RESULT_PATH, V3_SUBMIT_PATH
from orchestrator.core.decisions import TRANSIENT_OPERATION_CODES, NotFoundMeans
from orchestrator.core.transcript import Transcript

from .base import OperationStatus, SubmitRequest
from .errors import ErrorKind, SpeechKitError
from .http import OperationClient
from .jsonstream import parse_values
from .normalize_v3 import normalize_v3
from .quotas import DAILY_AUDIO, SUBMISSIONS

# The operation GET and getRecognition: which endpoints count is not documented.
STATUS_CHECKS = QuotaDecl(
    name="status_v3",
    title="status checks, API v3",
    kind=QuotaKind.RATE,
    limit=c.V3_STATUS_PER_SECOND,
    window_s=1.0,
    config_key="v3_status_checks_per_second",
    wait_field="v3_status_wait_s",
)
V3_SPEC = ApiSpec(
    name="v3",
    title="asynchronous API v3",
    asynchronous=True,
    models=c.V3_MODELS,
    languages=c.RECOGNITION_LANGUAGES,
    several_languages=True,
    # v3 has no rawResults: numbers are spelt out unless text normalisation is on.
    unsupported=("raw_results",),
    # v2 and v3 submissions share the 500-per-hour recognition quota.
    submit_quota=SUBMISSIONS.name,
    status_quota=STATUS_CHECKS.name,
    result_quota=STATUS_CHECKS.name,
    submit_endpoint="recognizeFileAsync",
    status_endpoint="operations",
    result_endpoint="getRecognition",
    # An operation older than the results' lifetime has expired; a younger one's 404 is
    # a wrong endpoint or key (core.decisions tells them apart by age).
    status_not_found=NotFoundMeans.EXPIRED,
    # getRecognition answers 404 before the results exist.
    result_not_found=NotFoundMeans.NOT_READY,
    quotas=(SUBMISSIONS, DAILY_AUDIO, STATUS_CHECKS),
    audio_quota=DAILY_AUDIO.name,
    delete_endpoint="deleteRecognition",
)

_CONTAINERS = {"OGG_OPUS": "OGG_OPUS", "MP3": "MP3"}


def v3_request_body(request: SubmitRequest) -> dict[str, Any]:
    """The JSON body of a recognizeFileAsync request (camelCase, as the REST reference).

    Raw LPCM (a WAV file's samples, uploaded without the header, or a raw file) is sent as
    ``rawAudio`` with its rate and channels; Ogg Opus and MP3 as ``containerAudio``.
    Raises ValueError for a request v3 cannot express.
    """
    if request.audio_uri is None:
        raise ValueError("API v3 recognises an object in storage: the request has no link")
    audio_format: dict[str, Any]
    if request.encoding == "LINEAR16_PCM":
        if not request.sample_rate:
            raise ValueError("LINEAR16_PCM audio needs a sample rate")
        audio_format = {
            "rawAudio": {
                "audioEncoding": "LINEAR16_PCM",
                "sampleRateHertz": request.sample_rate,
                "audioChannelCount": request.channels,
            }
        }
    elif request.encoding in _CONTAINERS:
        audio_format = {"containerAudio": {"containerAudioType": _CONTAINERS[request.encoding]}}
    else:
        raise ValueError(f"audio encoding {request.encoding!r} has no API v3 audio format")
    normalise = (
        request.literature_text
        if request.text_normalization is None
        else request.text_normalization
    )
    model: dict[str, Any] = {
        "model": request.model,
        "audioFormat": audio_format,
        "textNormalization": {
            "textNormalization": (
                "TEXT_NORMALIZATION_ENABLED" if normalise else "TEXT_NORMALIZATION_DISABLED"
            ),
            "profanityFilter": request.profanity_filter,
            "literatureText": request.literature_text,
        },
    }
    languages = (
        list(request.language)
        if isinstance(request.language, tuple)
        else ([] if request.language == "auto" else [request.language])
    )
    if languages:
        # Without a restriction the model finds the language itself (`language: auto`).
        model["languageRestriction"] = {"restrictionType": "WHITELIST", "languageCode": languages}
    labeling = (
        "SPEAKER_LABELING_ENABLED" if request.speaker_labeling else "SPEAKER_LABELING_DISABLED"
    )
    return {
        "uri": request.audio_uri,
        "recognitionModel": model,
        "speakerLabeling": {"speakerLabeling": labeling},
    }


def parse_results(body: bytes) -> list[Any]:
    """getRecognition's answer: concatenated JSON values however laid out (see jsonstream)."""
    return parse_values(body.decode("utf-8", errors="replace"))


class V3Client(OperationClient):
    """API v3 over an aiohttp session the caller owns; ``api_url`` is the STT service's root
    (``stt_v3_url``), ``operation_url`` the Operation service's."""

    profile = V3_SPEC
    submit_path = V3_SUBMIT_PATH

    def request_body(self, request: SubmitRequest) -> dict[str, Any]:
        """The recognizeFileAsync body (see ``v3_request_body``)."""
        return v3_request_body(request)

    def result_of(self, status: OperationStatus) -> Transcript | None:
        """Never a transcript (the Operation carries none); raises a failed one's error."""
        failure = status.failure() if status.done else None
        if failure is not None:
            raise failure
        return None

    async def fetch_result(
        self, operation_id: str, *, speaker_labeling: bool = False
    ) -> Transcript:
        """The results of a finished operation from getRecognition (v3's status quota)."""
        # As the documentation's curl asks (async-recognition-v3.md: getRecognition?operation_id=).
        params = {"operation_id": operation_id}
        answer = await self._http.request(
            "GET", self._root + V3_RESULT_PATH, "results", params=params
        )
        try:
            lines = parse_results(answer.body)
        except ValueError as exc:
            raise answer.retryable(f"results: {exc}") from exc
        for line in lines:
            # A stream that fails midway ends with an error object instead of a result.
            error = line.get("error") if isinstance(line, dict) else None
            if isinstance(error, dict):
                raise _stream_error(error, answer.request_id, answer.client_request_id)
        return normalize_v3(lines, speakers=speaker_labeling)

    async def delete_result(self, operation_id: str) -> None:
        """deleteRecognition: the service forgets the results (no quota is documented)."""
        params = {"operationId": operation_id}
        await self._http.request(
            "DELETE", self._root + V3_DELETE_PATH, "delete results", params=params
        )

    def from_cache(self, payload: Any) -> Transcript | None:
        """v3 results were never cached in another shape."""
        return None


def _stream_error(
    error: dict[str, Any], request_id: str | None, client_request_id: str | None
) -> SpeechKitError:
    """The error object a failed results stream ends with (grpc-gateway's shape)."""
    code = error.get("code", error.get("grpc_code"))
    grpc = code if isinstance(code, int) and not isinstance(code, bool) else None
    message = error.get("message")
    text = message if isinstance(message, str) and message else "the results stream failed"
    # The service's own trouble is worth asking again; anything else is final.
    kind = ErrorKind.RETRYABLE if grpc in TRANSIENT_OPERATION_CODES else ErrorKind.PERMANENT
    return SpeechKitError(
        kind,
        f"results: {text}",
        grpc_code=grpc,
        request_id=request_id,
        client_request_id=client_request_id,
    )
