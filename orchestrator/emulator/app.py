"""The HTTP server: middlewares shared by every API, and the in-process start/stop API."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from orchestrator.core import constants
from orchestrator.emulator import asr_xml, iam_api, operations_api, v2, v3
from orchestrator.emulator.core import EMULATOR_KEY, REQUEST_ID, Emulator, emulator_of
from orchestrator.emulator.errors import ApiError, status_body
from orchestrator.emulator.operations import api_of_operation_id
from orchestrator.emulator.settings import EmulatorSettings

STATS_PATH = "/_emulator/stats"
_log = logging.getLogger(__name__)
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# gRPC codes for errors aiohttp raises itself (no route, wrong method, body too large).
_HTTP_TO_GRPC = {
    404: constants.GRPC_NOT_FOUND,
    405: constants.GRPC_UNIMPLEMENTED,
    413: constants.GRPC_INVALID_ARGUMENT,
}
# Large enough for API v3's inline `content` (60 MB of audio, base64 in JSON).
_MAX_JSON_BYTES = constants.MAX_INLINE_BYTES * 4 // 3 + 1024 * 1024


class _DroppedConnection(Exception):
    """Raised after the transport was closed on purpose: there is nothing to answer."""


def _endpoint(request: web.Request) -> str:
    route = request.match_info.route
    path = route.resource.canonical if route.resource is not None else "unmatched"
    return f"{request.method} {path}"


async def _inject_fault(emulator: Emulator, request: web.Request, endpoint: str) -> None:
    fault = emulator.faults.draw()
    if fault is None:
        return
    emulator.requests.faults[fault] += 1
    if fault == "slow":
        await asyncio.sleep(emulator.settings.slow_s)
    elif fault == "5xx":
        code = emulator.faults.server_error_code()
        raise ApiError(code, "the service is temporarily unavailable (emulated fault)")
    else:
        emulator.requests.count_request(endpoint, "reset", _api_of(request))
        if request.transport is not None:
            request.transport.abort()
        raise _DroppedConnection


# Which API each route belongs to, for the counters (the Operation API's by the id).
_ROUTE_APIS = {
    constants.V2_SUBMIT_PATH: "v2",
    constants.V3_SUBMIT_PATH: "v3",
    constants.V3_RESULT_PATH: "v3",
    constants.V3_DELETE_PATH: "v3",
    constants.ASR_XML_PATH: "asr_xml",
}


def _api_of(request: web.Request) -> str | None:
    route = request.match_info.route
    path = route.resource.canonical if route.resource is not None else None
    if path == constants.OPERATION_PATH:
        return api_of_operation_id(request.match_info["operation_id"])
    return _ROUTE_APIS.get(path or "")


@web.middleware
async def _common(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Faults, error bodies, x-request-id and counting, around every handler."""
    emulator = emulator_of(request)
    endpoint = _endpoint(request)
    request_id = str(uuid.uuid4())
    request[REQUEST_ID] = request_id
    response: web.StreamResponse
    try:
        if request.path != STATS_PATH:
            await _inject_fault(emulator, request, endpoint)
        response = await handler(request)
    except ApiError as exc:
        response = exc.response(request_id)
    except web.HTTPException as exc:
        code = _HTTP_TO_GRPC.get(exc.status, constants.GRPC_INTERNAL)
        body = status_body(code, exc.reason, request_id)
        response = web.json_response(body, status=exc.status)
    except _DroppedConnection:
        # aiohttp cannot write this to the closed transport and drops it quietly.
        return web.Response(status=500)
    except Exception:
        _log.exception("emulator: %s failed", endpoint)
        response = ApiError(constants.GRPC_INTERNAL, "internal error").response(request_id)
    response.headers["x-request-id"] = request_id
    emulator.requests.count_request(endpoint, str(response.status), _api_of(request))
    return response


async def _stats(request: web.Request) -> web.Response:
    """GET /_emulator/stats: every counter (no authentication: it holds no secret)."""
    return web.json_response(emulator_of(request).stats(), dumps=_pretty_json)


def _pretty_json(value: Any) -> str:
    import json

    return json.dumps(value, indent=2, ensure_ascii=False)


def build_app(emulator: Emulator) -> web.Application:
    """The aiohttp application serving every API the emulator speaks."""
    app = web.Application(middlewares=[_common], client_max_size=_MAX_JSON_BYTES)
    app[EMULATOR_KEY] = emulator
    v2.add_routes(app)
    v3.add_routes(app)
    asr_xml.add_routes(app)
    operations_api.add_routes(app)
    iam_api.add_routes(app)
    app.router.add_get(STATS_PATH, _stats)
    return app


class RunningEmulator:
    """A started emulator: its base URL, its counters, and a way to stop it."""

    def __init__(self, emulator: Emulator, runner: web.AppRunner, url: str) -> None:
        self.emulator = emulator
        self.settings = emulator.settings
        self.url = url
        self._runner = runner

    def stats(self) -> dict[str, Any]:
        """The counters /_emulator/stats returns."""
        return self.emulator.stats()

    async def close(self) -> None:
        """Stop the server and every operation still running."""
        await self._runner.cleanup()
        await self.emulator.close()

    async def __aenter__(self) -> RunningEmulator:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def start_emulator(settings: EmulatorSettings) -> RunningEmulator:
    """Start an emulator on ``settings.host``:``settings.port`` (0: a free port)."""
    emulator = Emulator(settings)
    await emulator.start()
    runner = web.AppRunner(build_app(emulator), access_log=None, handle_signals=False)
    try:
        await runner.setup()
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        await emulator.close()
        raise
    host, port = runner.addresses[0][:2]
    shown = f"[{host}]" if ":" in host else host
    return RunningEmulator(emulator, runner, f"http://{shown}:{port}")
