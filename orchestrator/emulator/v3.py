"""API v3 (asynchronous): ``recognizeFileAsync``, ``getRecognition``, ``deleteRecognition``.

Submissions share the recognition-request quota with v2. ``getRecognition`` spends the v3
status quota, like the operation GET of a v3 operation (see ``operations_api``), and counts
as a status check of its operation. Asked before the operation is done it answers 404
(code 5): undocumented, chosen because community clients treat 404 as "not ready". For a
failed operation it answers the operation's error. After ``deleteRecognition`` or the TTL,
404. ``deleteRecognition`` spends no quota and answers ``{}`` (google.protobuf.Empty).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from orchestrator.core import constants
from orchestrator.emulator.audio import ProbedAudio
from orchestrator.emulator.core import Emulator, emulator_of
from orchestrator.emulator.errors import ApiError, invalid, not_found
from orchestrator.emulator.operations import Operation
from orchestrator.emulator.processor import Recognition
from orchestrator.emulator.submission import open_operation, start_recognition
from orchestrator.emulator.v3_request import parse_request
from orchestrator.emulator.v3_results import build_results

# getRecognition streams one JSON object per line, as grpc-gateway writes a server stream.
_RESULTS_CONTENT_TYPE = "application/json"


async def submit(request: web.Request) -> web.Response:
    """POST /stt/v3/recognizeFileAsync: check, create the operation, answer it."""
    emulator, operation, parsed = await open_operation(request, "v3", parse_request)
    empty = None
    if emulator.settings.v3_empty_response:
        empty = {"@type": constants.EMPTY_RESPONSE_TYPE}

    def recognise(content_hash: str, audio: ProbedAudio) -> Recognition:
        lines = build_results(operation.id, content_hash, audio, parsed)
        return Recognition(response=empty, results=lines)

    return start_recognition(
        emulator,
        operation,
        parsed,
        parsed.source,
        deferred_models=constants.V3_DEFERRED_MODELS,
        recognise=recognise,
    )


def _operation_id(request: web.Request) -> str:
    """The ``operationId`` (or ``operation_id``) query parameter; 400 when missing or long."""
    query = request.query
    given = [query[name] for name in ("operationId", "operation_id") if name in query]
    if not given or not given[0]:
        raise invalid("operationId: required (query parameter operationId or operation_id)")
    if len(set(given)) > 1:
        raise invalid("operationId: given twice with different values")
    if len(given[0]) > constants.V3_MAX_OPERATION_ID:
        raise invalid(f"operationId: longer than {constants.V3_MAX_OPERATION_ID} characters")
    return given[0]


def _finished(emulator: Emulator, operation_id: str) -> Operation:
    """The finished v3 operation with its results; else the error to answer."""
    operation = emulator.operations.get(operation_id)
    if operation is None or operation.api != "v3":
        raise not_found(f"operation {operation_id} not found")
    if not operation.done:
        raise not_found(f"results of operation {operation_id} not found: it is not done yet")
    if operation.error is not None:
        raise ApiError(operation.error["code"], operation.error["message"])
    if operation.results is None:
        raise not_found(f"results of operation {operation_id} not found: they were deleted")
    return operation


async def get_recognition(request: web.Request) -> web.Response:
    """GET /stt/v3/getRecognition?operationId=...: the results, one JSON object per line."""
    emulator = emulator_of(request)
    emulator.authenticate(request)
    emulator.spend("v3_status")
    operation_id = _operation_id(request)
    pending = emulator.operations.get(operation_id)
    if pending is not None and pending.api == "v3":
        pending.note_check()
        pending.result_fetches += 1
        asked = [name for name in ("operationId", "operation_id") if name in request.query]
        pending.result_params.update(asked)
    operation = _finished(emulator, operation_id)
    text = stream_text(operation.results or [], emulator.settings.v3_stream_layout)
    return web.Response(text=text, content_type=_RESULTS_CONTENT_TYPE, charset="utf-8")


def stream_text(messages: list[Any], layout: str) -> str:
    """The messages as getRecognition writes them in ``layout`` (see V3_STREAM_LAYOUTS)."""
    if layout == "pretty":
        # As the documentation's example prints them (async-recognition-v3.md).
        return "\n".join(json.dumps(m, ensure_ascii=False, indent=3) for m in messages) + "\n"
    if layout == "packed":
        return "".join(json.dumps(m, ensure_ascii=False) for m in messages)
    return "".join(json.dumps(m, ensure_ascii=False) + "\n" for m in messages)


async def delete_recognition(request: web.Request) -> web.Response:
    """DELETE /stt/v3/deleteRecognition?operationId=...: forget the results; ``{}``."""
    emulator = emulator_of(request)
    emulator.authenticate(request)
    operation = _finished(emulator, _operation_id(request))
    operation.results = None
    operation.results_deleted = True
    return web.json_response({})


def add_routes(app: web.Application) -> None:
    """Register API v3's endpoints on ``app``."""
    app.router.add_post(constants.V3_SUBMIT_PATH, submit)
    app.router.add_get(constants.V3_RESULT_PATH, get_recognition)
    app.router.add_delete(constants.V3_DELETE_PATH, delete_recognition)
