"""Error answers in the service's shape: ``{"code": <grpc>, "message": ..., "details": []}``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from orchestrator.core import constants


class ApiError(Exception):
    """An error answer: a gRPC code (which decides the HTTP status) and a message."""

    def __init__(self, code: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = headers or {}

    @property
    def http_status(self) -> int:
        """The HTTP status the real gateway uses for this gRPC code."""
        return constants.GRPC_TO_HTTP.get(self.code, 500)

    def body(self) -> dict[str, Any]:
        """The JSON body of the answer."""
        return status_body(self.code, self.message)

    def response(self) -> web.Response:
        """The whole HTTP answer."""
        return web.json_response(self.body(), status=self.http_status, headers=self.headers)


def status_body(code: int, message: str) -> dict[str, Any]:
    """A google.rpc.Status as JSON, as both error answers and failed operations carry it."""
    return {"code": code, "message": message, "details": []}


def invalid(message: str) -> ApiError:
    """A 400 INVALID_ARGUMENT error."""
    return ApiError(constants.GRPC_INVALID_ARGUMENT, message)
