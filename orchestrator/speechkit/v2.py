"""SpeechKit asynchronous recognition, API v2: longRunningRecognize + operations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.core import constants as c
from orchestrator.core.apis import ApiSpec, QuotaDecl, QuotaKind
from orchestrator.core.constants import ENCODINGS, V2_SUBMIT_PATH
from orchestrator.core.decisions import NotFoundMeans
from orchestrator.core.transcript import Transcript

from .base import OperationStatus, SubmitRequest
from .errors import ErrorKind, SpeechKitError
from .http import AuthHeader, OperationClient, parse_operation
from .normalize import normalize_v2
from .quotas import DAILY_AUDIO, SUBMISSIONS

__all__ = ["V2_SPEC", "AuthHeader", "V2Client", "parse_operation", "v2_request_body"]

STATUS_CHECKS = QuotaDecl(
    name="status",
    title="status checks, API v2",
    kind=QuotaKind.WINDOW,
    limit=c.V2_STATUS_QUOTA_PER_HOUR,
    window_s=c.QUOTA_WINDOW_S,
    config_key="status_checks",
)
V2_SPEC = ApiSpec(
    name="v2",
    title="asynchronous API v2",
    asynchronous=True,
    models=c.MODELS,
    languages=c.RECOGNITION_LANGUAGES,
    several_languages=False,
    unsupported=("speaker_labeling", "text_normalization"),
    submit_quota=SUBMISSIONS.name,
    status_quota=STATUS_CHECKS.name,
    # The finished Operation carries the response: fetching costs no request.
    result_quota=None,
    submit_endpoint="longRunningRecognize",
    status_endpoint="operations",
    result_endpoint=None,
    # Results are kept for 3 days; after that the operation cannot be read (a younger
    # operation's 404 is something else: core.decisions tells them apart by age).
    status_not_found=NotFoundMeans.EXPIRED,
    result_not_found=NotFoundMeans.EXPIRED,
    quotas=(SUBMISSIONS, DAILY_AUDIO, STATUS_CHECKS),
    audio_quota=DAILY_AUDIO.name,
)


def v2_request_body(request: SubmitRequest) -> dict[str, Any]:
    """The exact JSON body of a v2 longRunningRecognize request.

    Raises ValueError for an unknown encoding or LINEAR16_PCM without a sample rate.
    """
    if not isinstance(request.language, str):
        raise ValueError("API v2 takes one language code (a list of languages needs API v3)")
    if request.encoding not in ENCODINGS:
        raise ValueError(
            f"audio encoding {request.encoding!r} is not one of {', '.join(ENCODINGS)}"
        )
    spec: dict[str, Any] = {
        "languageCode": request.language,
        "model": request.model,
        "profanityFilter": request.profanity_filter,
        "literature_text": request.literature_text,  # snake_case on the wire, as documented
        "audioEncoding": request.encoding,
        "rawResults": request.raw_results,
    }
    if request.encoding == "LINEAR16_PCM":
        # Raw LPCM has no header: the service must be told; OGG and MP3 carry their own.
        if not request.sample_rate:
            raise ValueError("LINEAR16_PCM audio needs a sample rate")
        spec["sampleRateHertz"] = request.sample_rate
        spec["audioChannelCount"] = request.channels
    return {"config": {"specification": spec}, "audio": {"uri": request.audio_uri}}


class V2Client(OperationClient):
    """API v2 over an aiohttp session the caller owns; ``api_url`` is the transcription
    service's root (``transcribe_url``), ``operation_url`` the Operation service's."""

    profile = V2_SPEC
    submit_path = V2_SUBMIT_PATH

    def request_body(self, request: SubmitRequest) -> dict[str, Any]:
        """The longRunningRecognize body (see ``v2_request_body``)."""
        return v2_request_body(request)

    def result_of(self, status: OperationStatus) -> Transcript | None:
        """The transcript a finished Operation carries (raises its error if it failed)."""
        if not status.done:
            return None
        failure = status.failure()
        if failure is not None:
            raise failure
        if status.response is None:
            raise SpeechKitError(
                ErrorKind.PERMANENT,
                f"operation {status.id} is done without a response or an error",
                request_id=status.request_id,
                client_request_id=status.client_request_id,
            )
        return normalize_v2(status.response)

    async def fetch_result(
        self, operation_id: str, *, speaker_labeling: bool = False
    ) -> Transcript:
        """The transcript of a finished operation, read again from the operation (one
        status check: v2 has no request of its own for the result)."""
        status = await self.get_operation(operation_id)
        transcript = self.result_of(status)
        if transcript is None:
            raise SpeechKitError(
                ErrorKind.RETRYABLE,
                f"operation {operation_id} is not done yet",
                request_id=status.request_id,
                client_request_id=status.client_request_id,
            )
        return transcript

    async def delete_result(self, operation_id: str) -> None:
        """API v2 has no way to delete results (they expire): nothing to do."""

    def from_cache(self, payload: Any) -> Transcript | None:
        """A result cached before the cache held transcripts: ``{"operation", "response"}``."""
        if isinstance(payload, Mapping) and isinstance(payload.get("response"), Mapping):
            return normalize_v2(payload["response"])
        return None
