"""The IAM token endpoint (``POST /iam/v1/tokens``: a JWT for an IAM token) and the VM
metadata service's token endpoint (``GET .../service-accounts/default/token``)."""

from __future__ import annotations

import math
import time

from aiohttp import web

from orchestrator.core import constants
from orchestrator.emulator.core import emulator_of, read_json
from orchestrator.emulator.errors import ApiError, invalid
from orchestrator.emulator.iam import TokenRefused, rfc3339


async def create_token(request: web.Request) -> web.Response:
    """POST /iam/v1/tokens ``{"jwt": ...}``: ``{"iamToken", "expiresAt"}``, or 401."""
    emulator = emulator_of(request)
    body = await read_json(request)
    signed = body.get("jwt") if isinstance(body, dict) else None
    if not isinstance(signed, str) or not signed:
        raise invalid("the request needs a jwt (or another way to get a token)")
    # The JWT's audience is the real IAM URL, or this emulator's (a config pointed here).
    here = f"{request.scheme}://{request.host}{constants.IAM_TOKENS_PATH}"
    try:
        token, expires_at = emulator.iam.exchange(
            signed, [constants.IAM_TOKENS_URL, here], time.time()
        )
    except TokenRefused as exc:
        raise ApiError(constants.GRPC_UNAUTHENTICATED, str(exc)) from None
    return web.json_response({"iamToken": token, "expiresAt": rfc3339(expires_at)})


async def metadata_token(request: web.Request) -> web.Response:
    """GET the metadata service's token: ``{"access_token", "expires_in", "token_type"}``;
    403 without ``Metadata-Flavor: Google`` (what keeps a forwarded request out)."""
    emulator = emulator_of(request)
    if request.headers.get("Metadata-Flavor") != "Google":
        raise ApiError(constants.GRPC_PERMISSION_DENIED, "missing Metadata-Flavor: Google")
    now = time.time()
    token, expires_at = emulator.iam.issue("metadata", now)
    expires_in = max(1, math.floor(expires_at - now))
    return web.json_response(
        {"access_token": token, "expires_in": expires_in, "token_type": "Bearer"}
    )


def add_routes(app: web.Application) -> None:
    """Register the IAM and metadata token endpoints on ``app``."""
    app.router.add_post(constants.IAM_TOKENS_PATH, create_token)
    app.router.add_get(constants.METADATA_TOKEN_PATH, metadata_token)
