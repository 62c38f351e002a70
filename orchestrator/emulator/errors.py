"""Error answers in the service's shape: ``{"code": <grpc>, "message": ..., "details": [...]}``.

An answer's ``details`` holds a google.rpc.RequestInfo with the request id the answer's
``x-request-id`` header carries too, as the real API gateway does; a failed Operation's
``error`` is a bare google.rpc.Status with empty ``details``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from orchestrator.core import constants


class ApiError(Exception):
    """An error answer: a gRPC code (which decides the HTTP status) and a message.

    ``status`` overrides the HTTP status the code maps to, for the legacy API whose
    statuses did not follow the gRPC table.
    """

    def __init__(
        self,
        code: int,
        message: str,
        headers: dict[str, str] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.status = status

    @property
    def http_status(self) -> int:
        """The HTTP status the real gateway uses for this gRPC code."""
        if self.status is not None:
            return self.status
        return constants.GRPC_TO_HTTP.get(self.code, 500)

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        """The JSON body of the answer."""
        return status_body(self.code, self.message, request_id)

    def response(self, request_id: str | None = None) -> web.Response:
        """The whole HTTP answer."""
        return web.json_response(
            self.body(request_id), status=self.http_status, headers=self.headers
        )


def status_body(code: int, message: str, request_id: str | None = None) -> dict[str, Any]:
    """A google.rpc.Status as JSON; with ``request_id``, its RequestInfo detail."""
    details: list[dict[str, Any]] = []
    if request_id is not None:
        details.append({"@type": constants.REQUEST_INFO_TYPE, "requestId": request_id})
    return {"code": code, "message": message, "details": details}


def invalid(message: str) -> ApiError:
    """A 400 INVALID_ARGUMENT error."""
    return ApiError(constants.GRPC_INVALID_ARGUMENT, message)


def not_found(message: str) -> ApiError:
    """A 404 NOT_FOUND error."""
    return ApiError(constants.GRPC_NOT_FOUND, message)
