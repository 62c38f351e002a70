"""SpeechKit errors and their classification: what the pipeline may retry and what it may not."""

from __future__ import annotations

import email.utils
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import aiohttp

from orchestrator.core.decisions import Failure
from orchestrator.core.failures import ErrorKind
from orchestrator.telemetry.logs import redact_text

__all__ = [
    "ErrorKind",
    "RecognitionFailed",
    "SpeechKitError",
    "classify",
    "from_transport_error",
    "operation_error",
    "parse_retry_after",
    "transport_errors",
]

# Long bodies (an HTML page from a proxy) are cut: the message must stay one readable line.
_MAX_MESSAGE_CHARS = 500


class SpeechKitError(Exception):
    """An error from a SpeechKit API or from the connection to it.

    ``message`` is the service's own message (or a description of the transport failure);
    nothing from the request headers is ever part of it.
    """

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        http_status: int | None = None,
        grpc_code: int | None = None,
        retry_after: float | None = None,
        request_id: str | None = None,
        client_request_id: str | None = None,
    ) -> None:
        self.kind = kind
        self.message = message
        self.http_status = http_status
        self.grpc_code = grpc_code
        self.retry_after = retry_after
        self.request_id = request_id  # the service's: x-request-id, or the error's requestId
        self.client_request_id = client_request_id  # ours: the x-client-request-id we sent
        super().__init__(str(self))

    @property
    def retryable(self) -> bool:
        """True for RETRYABLE and QUOTA errors."""
        return self.kind.retryable

    def __str__(self) -> str:
        parts = [self.kind.value]
        if self.http_status is not None:
            parts.append(f"HTTP {self.http_status}")
        if self.grpc_code is not None:
            parts.append(f"code {self.grpc_code}")
        text = f"{' '.join(parts)}: {self.message}"
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text

    def __repr__(self) -> str:
        return f"SpeechKitError({self!s})"

    def failure(self) -> Failure:
        """The error as the pipeline's decisions take it."""
        return Failure(self.kind, str(self), self.retry_after)

    def ids(self) -> dict[str, str]:
        """The request ids a support ticket quotes, for the failure's log event."""
        return request_ids(self.client_request_id, self.request_id)


class RecognitionFailed(SpeechKitError):
    """The service took the request but the recognition itself failed: an operation that
    ended with ``error``, or a synchronous answer that recognised nothing."""


def request_ids(client_request_id: str | None, request_id: str | None) -> dict[str, str]:
    """``client_request_id`` (sent) and ``request_id`` (the service's), those known."""
    ids = {"client_request_id": client_request_id, "request_id": request_id}
    return {name: value for name, value in ids.items() if value}


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    if value is not None:
        return value
    # A plain dict is case-sensitive; aiohttp's CIMultiDict is not.
    lowered = name.lower()
    for key, val in headers.items():
        if key.lower() == lowered:
            return val
    return None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None if absent.

    An HTTP date needs ``now`` (the caller's clock: nothing here reads one); without it a
    date is not understood and the caller's own backoff applies.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None or now is None:
        return None
    return max(0.0, when.timestamp() - now)


def _clean(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > _MAX_MESSAGE_CHARS:
        text = text[:_MAX_MESSAGE_CHARS] + "..."
    # A service may echo a query string (asr_xml takes its key there): never pass it on.
    return redact_text(text)


def _parse_body(body: Any) -> tuple[int | None, str | None, str | None]:
    """The gRPC code, message and ``requestId`` (from a RequestInfo detail) of an error
    body, as far as it has that shape."""
    if isinstance(body, bytes | bytearray):
        body = bytes(body).decode("utf-8", errors="replace")
    if isinstance(body, str):
        try:
            body = json.loads(body) if body.strip() else None
        except ValueError:
            return None, _clean(body) or None, None
    if isinstance(body, Mapping):
        code = body.get("code")
        message = body.get("message")
        grpc_code = code if isinstance(code, int) and not isinstance(code, bool) else None
        text = _clean(message) if isinstance(message, str) and message else None
        return grpc_code, text, _detail_request_id(body.get("details"))
    return None, None, None


def _detail_request_id(details: Any) -> str | None:
    """The ``requestId`` of a google.rpc.RequestInfo among an error's ``details``."""
    if not isinstance(details, list):
        return None
    for detail in details:
        if isinstance(detail, Mapping):
            found = detail.get("requestId")
            if isinstance(found, str) and found:
                return _clean(found)
    return None


def kind_for_status(status: int) -> ErrorKind:
    """The error kind an HTTP status means."""
    if status == 401:
        return ErrorKind.AUTH
    if status == 404:
        return ErrorKind.NOT_FOUND
    if status == 429:
        return ErrorKind.QUOTA
    if status == 408 or status >= 500:
        return ErrorKind.RETRYABLE
    return ErrorKind.PERMANENT


def classify(
    status: int, body: Any, headers: Mapping[str, str] | None = None, now: float | None = None
) -> SpeechKitError:
    """Turn a non-success HTTP answer into a SpeechKitError.

    ``body`` is the parsed JSON, the raw text or bytes, or None. Only Retry-After and
    x-request-id are read from ``headers``; no header value ever reaches the message.
    ``now`` (the caller's clock) reads a Retry-After given as an HTTP date.
    """
    grpc_code, message, detail_id = _parse_body(body)
    kind = kind_for_status(status)
    retry_after = (
        parse_retry_after(_header(headers, "Retry-After"), now) if kind.retryable else None
    )
    return SpeechKitError(
        kind,
        message or f"HTTP {status} without an error message",
        http_status=status,
        grpc_code=grpc_code,
        retry_after=retry_after,
        request_id=_header(headers, "x-request-id") or detail_id,
    )


def operation_error(
    code: int | None,
    message: str | None,
    *,
    request_id: str | None = None,
    client_request_id: str | None = None,
) -> RecognitionFailed:
    """The error of a recognition that failed: the service's code and message."""
    return RecognitionFailed(
        ErrorKind.PERMANENT,
        _clean(message) if message else f"operation failed with code {code}",
        grpc_code=code,
        request_id=request_id,
        client_request_id=client_request_id,
    )


# What a dropped connection, a reset or a timeout looks like from aiohttp.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ClientError, TimeoutError, OSError)


def from_transport_error(exc: BaseException, what: str = "request") -> SpeechKitError:
    """Wrap a connection-level failure (timeout, reset, refused) into a SpeechKitError."""
    if isinstance(exc, aiohttp.InvalidURL):
        # A URL that cannot be parsed will not parse tomorrow either.
        return SpeechKitError(ErrorKind.PERMANENT, f"{what}: invalid URL")
    if isinstance(exc, TimeoutError):
        detail = "timed out"
    else:
        text = str(exc)
        detail = f"{type(exc).__name__}: {_clean(text)}" if text else type(exc).__name__
    return SpeechKitError(ErrorKind.RETRYABLE, f"{what}: {detail}")


@contextmanager
def transport_errors(what: str = "request") -> Iterator[None]:
    """Re-raise timeouts, resets and connection failures inside the block as RETRYABLE errors."""
    try:
        yield
    except SpeechKitError:
        raise
    except TRANSPORT_ERRORS as exc:
        raise from_transport_error(exc, what) from exc
