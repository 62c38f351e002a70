"""SpeechKit asynchronous recognition, API v2: longRunningRecognize + operations."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp

from orchestrator.core.constants import ENCODINGS, OPERATION_PATH, V2_SUBMIT_PATH
from orchestrator.core.decisions import NotFoundMeans
from orchestrator.core.quota import STATUS_QUOTA, SUBMIT_QUOTA
from orchestrator.core.transcript import Transcript

from .base import ApiProfile, OperationFailure, OperationStatus, SubmitRequest, Submitted
from .errors import ErrorKind, SpeechKitError, classify, transport_errors
from .normalize import normalize_v2

AuthHeader = Callable[[], Mapping[str, str]] | Mapping[str, str]

V2_PROFILE = ApiProfile(
    name="v2",
    submit_quota=SUBMIT_QUOTA,
    status_quota=STATUS_QUOTA,
    # The finished Operation carries the response: fetching costs no request.
    result_quota=None,
    submit_endpoint="longRunningRecognize",
    status_endpoint="operations",
    result_endpoint=None,
    # Results are kept for 3 days; after that the operation cannot be read.
    status_not_found=NotFoundMeans.EXPIRED,
    result_not_found=NotFoundMeans.EXPIRED,
)


def v2_request_body(request: SubmitRequest) -> dict[str, Any]:
    """The exact JSON body of a v2 longRunningRecognize request.

    Raises ValueError for an unknown encoding or LINEAR16_PCM without a sample rate.
    """
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


def parse_operation(data: Mapping[str, Any], request_id: str | None = None) -> OperationStatus:
    """An Operation JSON object as an OperationStatus (tolerant of missing fields)."""
    error: OperationFailure | None = None
    raw_error = data.get("error")
    if isinstance(raw_error, Mapping):
        code = raw_error.get("code")
        message = raw_error.get("message")
        error = OperationFailure(
            code=code if isinstance(code, int) and not isinstance(code, bool) else None,
            message=message if isinstance(message, str) else "",
        )
    response = data.get("response")
    op_id = data.get("id")
    return OperationStatus(
        id=op_id if isinstance(op_id, str) else "",
        done=data.get("done") is True,
        error=error,
        response=dict(response) if isinstance(response, Mapping) else None,
        raw=dict(data),
        request_id=request_id,
    )


class V2Client:
    """API v2 over an aiohttp session the caller owns; base URLs are the service's roots.

    ``auth_header`` is a mapping such as ``{"Authorization": "Api-Key ..."}`` or a callable
    returning one (so an IAM token can be refreshed between requests).
    """

    profile = V2_PROFILE

    def __init__(
        self,
        session: aiohttp.ClientSession,
        transcribe_url: str,
        operation_url: str,
        auth_header: AuthHeader,
        timeout_s: float = 30.0,
        *,
        data_logging: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._session = session
        self._submit_url = transcribe_url.rstrip("/") + V2_SUBMIT_PATH
        self._operation_url = operation_url.rstrip("/")
        self._auth_header = auth_header
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._data_logging = data_logging
        self._clock = clock

    def _headers(self) -> dict[str, str]:
        auth = self._auth_header() if callable(self._auth_header) else self._auth_header
        headers = dict(auth)
        headers["x-client-request-id"] = str(uuid.uuid4())
        if self._data_logging:
            headers["x-data-logging-enabled"] = "true"
        return headers

    async def _call(
        self, method: str, url: str, what: str, body: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], str | None]:
        """One request; the JSON object answered and the x-request-id, or a SpeechKitError."""
        with transport_errors(what):
            async with self._session.request(
                method, url, json=body, headers=self._headers(), timeout=self._timeout
            ) as resp:
                payload = await resp.read()
                status = resp.status
                headers = resp.headers
        request_id = headers.get("x-request-id")
        if not 200 <= status < 300:
            raise classify(status, payload, headers, now=self._clock())
        try:
            data = json.loads(payload)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            # A 200 that is not an Operation came from something in between: try again later.
            raise SpeechKitError(
                ErrorKind.RETRYABLE,
                f"{what}: the answer is not a JSON object",
                http_status=status,
                request_id=request_id,
            )
        return data, request_id

    async def submit(self, request: SubmitRequest) -> Submitted:
        """Start recognition of ``request.audio_uri``; the operation to check on."""
        try:
            body = v2_request_body(request)
        except ValueError as exc:
            raise SpeechKitError(ErrorKind.PERMANENT, str(exc)) from exc
        try:
            data, request_id = await self._call("POST", self._submit_url, "submit", body)
        except SpeechKitError as exc:
            if exc.kind is not ErrorKind.NOT_FOUND:
                raise
            # Only an operation can expire; a 404 here is a wrong transcribe_url.
            raise SpeechKitError(
                ErrorKind.PERMANENT,
                exc.message,
                http_status=exc.http_status,
                grpc_code=exc.grpc_code,
                request_id=exc.request_id,
            ) from exc
        op_id = data.get("id")
        if not isinstance(op_id, str) or not op_id:
            raise SpeechKitError(
                ErrorKind.RETRYABLE,
                "submit: the answer has no operation id",
                request_id=request_id,
            )
        return Submitted(op_id, request_id)

    async def get_operation(self, operation_id: str) -> OperationStatus:
        """One status check; NOT_FOUND means the operation expired or never existed."""
        url = self._operation_url + OPERATION_PATH.format(operation_id=quote(operation_id, safe=""))
        data, request_id = await self._call("GET", url, "operation status")
        status = parse_operation(data, request_id)
        return status if status.id else _with_id(status, operation_id)

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
            )
        return normalize_v2(status.response)

    async def fetch_result(self, operation_id: str) -> Transcript:
        """The transcript of a finished operation, read again from the operation (one
        status check: v2 has no request of its own for the result)."""
        status = await self.get_operation(operation_id)
        transcript = self.result_of(status)
        if transcript is None:
            raise SpeechKitError(
                ErrorKind.RETRYABLE,
                f"operation {operation_id} is not done yet",
                request_id=status.request_id,
            )
        return transcript

    def from_cache(self, payload: Any) -> Transcript | None:
        """A result cached before the cache held transcripts: ``{"operation", "response"}``."""
        if isinstance(payload, Mapping) and isinstance(payload.get("response"), Mapping):
            return normalize_v2(payload["response"])
        return None


def _with_id(status: OperationStatus, operation_id: str) -> OperationStatus:
    return OperationStatus(
        id=operation_id,
        done=status.done,
        error=status.error,
        response=status.response,
        raw=status.raw,
        request_id=status.request_id,
    )
