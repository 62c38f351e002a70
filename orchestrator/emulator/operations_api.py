"""The Operation API: ``GET /operations/{id}``, shared by v2 and v3."""

from __future__ import annotations

import time

from aiohttp import web

from orchestrator.core import constants
from orchestrator.emulator.core import emulator_of
from orchestrator.emulator.errors import ApiError


async def get_operation(request: web.Request) -> web.Response:
    """GET /operations/{id}: the operation's state; 404 when unknown or expired."""
    emulator = emulator_of(request)
    emulator.authenticate(request)
    emulator.spend("status")
    operation_id = request.match_info["operation_id"]
    operation = emulator.operations.get(operation_id)
    if operation is None:
        raise ApiError(constants.GRPC_NOT_FOUND, f"operation {operation_id} not found")
    operation.status_checks += 1
    if operation.done:
        operation.checks_after_done += 1
        if operation.first_check_after_done is None:
            operation.first_check_after_done = time.time()
    return web.json_response(operation.to_json())


def add_routes(app: web.Application) -> None:
    """Register the Operation API on ``app``."""
    app.router.add_get(constants.OPERATION_PATH, get_operation)
