"""What the SpeechKit clients share: the headers every request carries, one request with
its failures classified, and the Operation service that both asynchronous APIs start
and poll.

Every request sends an ``x-client-request-id`` of its own; a failure carries it, with the
service's ``x-request-id`` (or its error body's ``requestId``), so that the log line of any
failure holds what a support ticket quotes.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import AsyncIterable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable
from urllib.parse import quote

import aiohttp

from orchestrator.auth import CredentialsUnavailable
from orchestrator.core import jsontext
from orchestrator.core.apis import ApiSpec
from orchestrator.core.constants import OPERATION_PATH
from orchestrator.core.decisions import operation_finished

from .base import OperationFailure, OperationStatus, SubmitRequest, Submitted
from .errors import ErrorKind, SpeechKitError, classify, transport_errors


@runtime_checkable
class RenewedCredential(Protocol):
    """A credential fetched per request (an IAM token renewed ahead of its expiry)."""

    async def headers(self) -> dict[str, str]:
        """The headers that authenticate a request; CredentialsUnavailable when none."""
        ...

    async def refused(self, headers: dict[str, str]) -> bool:
        """A 401 answered ``headers``: True when a renewed credential is there to retry."""
        ...


AuthHeader = Callable[[], Mapping[str, str]] | Mapping[str, str] | RenewedCredential


@dataclass(frozen=True)
class Answer:
    """A successful (2xx) answer, read whole (SpeechKit's answers are small)."""

    status: int
    body: bytes
    headers: Mapping[str, str]  # case-insensitive (aiohttp's)
    client_request_id: str  # ours, sent as x-client-request-id
    request_id: str | None  # the service's

    def retryable(self, message: str, *, with_status: bool = False) -> SpeechKitError:
        """A RETRYABLE error for an answer that is not what was asked (something in between
        answered: try again later), carrying both request ids (and its status if asked)."""
        return SpeechKitError(
            ErrorKind.RETRYABLE,
            message,
            http_status=self.status if with_status else None,
            request_id=self.request_id,
            client_request_id=self.client_request_id,
        )


class Http:
    """Requests to SpeechKit over a session the caller owns, with its credential.

    ``auth_header`` is a mapping such as ``{"Authorization": "Api-Key ..."}`` or a callable
    returning one (so an IAM token can be refreshed between requests); ``None`` for an API
    that takes its key elsewhere (asr_xml's query string).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        auth_header: AuthHeader | None,
        timeout_s: float = 30.0,
        *,
        data_logging: bool = False,
        clock: Callable[[], float] = time.time,
        request_id_header: str = "x-request-id",
    ) -> None:
        self.session = session
        self.auth_header = auth_header
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.data_logging = data_logging
        self.clock = clock
        self.request_id_header = request_id_header  # where the service names its request

    async def headers(self, client_request_id: str) -> dict[str, str]:
        """The headers of one request; a CREDENTIALS error when no credential can be had."""
        source = self.auth_header
        if isinstance(source, RenewedCredential):
            try:
                headers = dict(await source.headers())
            except CredentialsUnavailable as exc:
                raise SpeechKitError(
                    ErrorKind.CREDENTIALS, str(exc), retry_after=exc.retry_after
                ) from None
        else:
            headers = dict((source() if callable(source) else source) or {})
        headers["x-client-request-id"] = client_request_id
        if self.data_logging:
            headers["x-data-logging-enabled"] = "true"
        return headers

    async def request(
        self,
        method: str,
        url: str,
        what: str,
        *,
        json_body: dict[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        data: AsyncIterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """One request; its 2xx answer, or a SpeechKitError carrying both request ids.

        A 401 to a renewed IAM token renews it and sends the request once more (a body
        that streams cannot be sent twice): the token had expired, not the job's fault."""
        send = functools.partial(
            self._send, method, url, what, json_body=json_body, params=params, data=data
        )
        sent, answer = await send(extra=headers)
        if isinstance(answer, SpeechKitError) and data is None:
            renewed = await self._renewed(answer, sent)
            sent, answer = await send(extra=headers) if renewed else (sent, answer)
        if isinstance(answer, SpeechKitError):
            raise answer
        return answer

    async def _renewed(self, error: SpeechKitError, sent: dict[str, str]) -> bool:
        """Whether a failed request may go again with a renewed credential (after a 401)."""
        source = self.auth_header
        if error.kind is not ErrorKind.AUTH or not isinstance(source, RenewedCredential):
            return False
        try:
            return await source.refused(sent)
        except CredentialsUnavailable as exc:
            raise SpeechKitError(
                ErrorKind.CREDENTIALS,
                f"{exc} (after a 401: {error.message})",
                retry_after=exc.retry_after,
                client_request_id=error.client_request_id,
            ) from None

    async def _send(
        self,
        method: str,
        url: str,
        what: str,
        *,
        json_body: dict[str, Any] | None,
        params: Mapping[str, str] | None,
        data: AsyncIterable[bytes] | None,
        extra: Mapping[str, str] | None,
    ) -> tuple[dict[str, str], Answer | SpeechKitError]:
        """One request: the headers sent, and the answer or the error it met."""
        client_request_id = str(uuid.uuid4())
        sent = {**(await self.headers(client_request_id)), **(extra or {})}
        try:
            with transport_errors(what):
                async with self.session.request(
                    method,
                    url,
                    json=json_body,
                    params=params,
                    data=data,
                    headers=sent,
                    timeout=self.timeout,
                ) as resp:
                    body = await resp.read()
                    status = resp.status
                    answer_headers = resp.headers
        except SpeechKitError as exc:
            exc.client_request_id = client_request_id
            return sent, exc
        request_id = answer_headers.get(self.request_id_header)
        if not 200 <= status < 300:
            error = classify(status, body, answer_headers, now=self.clock())
            error.request_id = request_id or error.request_id
            error.client_request_id = client_request_id
            return sent, error
        return sent, Answer(status, body, answer_headers, client_request_id, request_id)

    async def json_object(self, answer: Answer, what: str) -> dict[str, Any]:
        """The JSON object an answer holds; RETRYABLE when it holds none (a 200 that is not
        the API's came from something in between: try again later)."""
        try:
            data = jsontext.loads(answer.body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise answer.retryable(f"{what}: the answer is not a JSON object", with_status=True)
        return data


def parse_operation(
    data: Mapping[str, Any],
    request_id: str | None = None,
    client_request_id: str | None = None,
) -> OperationStatus:
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
        done=operation_finished(data.get("done") is True, error is not None),
        error=error,
        response=dict(response) if isinstance(response, Mapping) else None,
        raw=dict(data),
        request_id=request_id,
        client_request_id=client_request_id,
    )


async def get_operation(http: Http, operation_url: str, operation_id: str) -> OperationStatus:
    """One check of an operation at the Operation service (v2 and v3 alike)."""
    url = operation_url.rstrip("/") + OPERATION_PATH.format(
        operation_id=quote(operation_id, safe="")
    )
    answer = await http.request("GET", url, "operation status")
    data = await http.json_object(answer, "operation status")
    status = parse_operation(data, answer.request_id, answer.client_request_id)
    if status.id:
        return status
    return OperationStatus(
        id=operation_id,
        done=status.done,
        error=status.error,
        response=status.response,
        raw=status.raw,
        request_id=status.request_id,
        client_request_id=status.client_request_id,
    )


async def start_operation(http: Http, submit_url: str, body: dict[str, Any]) -> Submitted:
    """POST a recognition request; the operation it started (v2 and v3 alike)."""
    try:
        answer = await http.request("POST", submit_url, "submit", json_body=body)
    except SpeechKitError as exc:
        raise not_found_is_permanent(exc) from exc
    data = await http.json_object(answer, "submit")
    op_id = data.get("id")
    if not isinstance(op_id, str) or not op_id:
        raise answer.retryable("submit: the answer has no operation id")
    return Submitted(op_id, answer.request_id)


class OperationClient:
    """What the asynchronous APIs' clients share: one Http with their credential, a
    submission that starts an operation and the Operation service's status check.

    ``api_url`` is the API's root (its paths are the subclass's); ``auth_header`` is a
    mapping such as ``{"Authorization": "Api-Key ..."}`` or a callable returning one (so an
    IAM token can be refreshed between requests).
    """

    profile: ApiSpec
    submit_path: ClassVar[str]

    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_url: str,
        operation_url: str,
        auth_header: AuthHeader,
        timeout_s: float = 30.0,
        *,
        data_logging: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = Http(session, auth_header, timeout_s, data_logging=data_logging, clock=clock)
        self._root = api_url.rstrip("/")
        self._operation_url = operation_url.rstrip("/")

    def request_body(self, request: SubmitRequest) -> dict[str, Any]:
        """The JSON body of the API's submission; ValueError for a request it cannot express."""
        raise NotImplementedError

    async def submit(self, request: SubmitRequest) -> Submitted:
        """Start recognition of ``request.audio_uri``; the operation to check on."""
        try:
            body = self.request_body(request)
        except ValueError as exc:
            raise SpeechKitError(ErrorKind.PERMANENT, str(exc)) from exc
        return await start_operation(self._http, self._root + self.submit_path, body)

    async def get_operation(self, operation_id: str) -> OperationStatus:
        """One status check (the API's status quota); NOT_FOUND means the operation expired
        or never existed."""
        return await get_operation(self._http, self._operation_url, operation_id)


def not_found_is_permanent(exc: SpeechKitError) -> SpeechKitError:
    """A 404 from a submission: only an operation can expire, so this is a wrong URL."""
    if exc.kind is not ErrorKind.NOT_FOUND:
        return exc
    return SpeechKitError(
        ErrorKind.PERMANENT,
        exc.message,
        http_status=exc.http_status,
        grpc_code=exc.grpc_code,
        request_id=exc.request_id,
        client_request_id=exc.client_request_id,
    )
