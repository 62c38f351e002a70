"""The Operation API: ``GET /operations/{id}``, shared by v2 and v3.

A check of a v3 operation spends the v3 status quota (5 per second), any other one the v2
quota (2,500 per hour): the notes leave open which endpoints the v3 quota counts, and the
emulator counts both the operation GET and getRecognition. An unknown id is charged by its
prefix ("f8d" for v3, as the documentation's v3 ids start).
"""

from __future__ import annotations

from aiohttp import web

from orchestrator.core import constants
from orchestrator.emulator.core import emulator_of
from orchestrator.emulator.errors import not_found
from orchestrator.emulator.operations import api_of_operation_id


async def get_operation(request: web.Request) -> web.Response:
    """GET /operations/{id}: the operation's state; 404 when unknown or expired."""
    emulator = emulator_of(request)
    operation_id = request.match_info["operation_id"]
    operation = emulator.operations.get(operation_id)
    api = operation.api if operation is not None else api_of_operation_id(operation_id)
    emulator.authenticate(request)
    emulator.spend("v3_status" if api == "v3" else "status")
    if operation is None:
        raise not_found(f"operation {operation_id} not found")
    operation.note_check()
    return web.json_response(operation.to_json())


def add_routes(app: web.Application) -> None:
    """Register the Operation API on ``app``."""
    app.router.add_get(constants.OPERATION_PATH, get_operation)
