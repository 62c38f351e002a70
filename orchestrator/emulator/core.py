"""The emulator's state shared by every API module: settings, operations, quotas, counters."""

from __future__ import annotations

import hmac
import json
from typing import Any

from aiohttp import web

from orchestrator.core import constants
from orchestrator.emulator.errors import ApiError, invalid
from orchestrator.emulator.faults import FaultInjector
from orchestrator.emulator.operations import OperationStore, Processor
from orchestrator.emulator.quota import SlidingWindow, retry_after_header
from orchestrator.emulator.settings import EmulatorSettings
from orchestrator.emulator.stats import RequestStats
from orchestrator.emulator.storage import ObjectFetcher


class Emulator:
    """Everything the handlers need; one per running server."""

    def __init__(self, settings: EmulatorSettings) -> None:
        self.settings = settings
        self.fetcher = ObjectFetcher(
            settings.s3_endpoint_url,
            settings.s3_access_key,
            settings.s3_secret_key,
            settings.s3_region,
        )
        self.operations = OperationStore(ttl_s=settings.effective_ttl_s)
        self.processor = Processor(settings, self.fetcher)
        window = settings.effective_window_s
        self.quotas = {
            "submit": SlidingWindow(settings.submit_quota, window),
            "status": SlidingWindow(settings.status_quota, window),
        }
        self.requests = RequestStats()
        self.faults = FaultInjector(settings)

    async def start(self) -> None:
        """Open the connections the emulator needs."""
        await self.fetcher.start()

    async def close(self) -> None:
        """Stop processing and close connections."""
        await self.processor.close()
        await self.fetcher.close()

    def authenticate(self, request: web.Request) -> None:
        """Accept ``Api-Key <key>`` or ``Bearer <token>`` from the settings; else 401."""
        scheme, _, credential = request.headers.get("Authorization", "").strip().partition(" ")
        credential = credential.strip()
        allowed: tuple[str, ...] = ()
        if scheme.lower() == "api-key":
            allowed = self.settings.api_keys
        elif scheme.lower() == "bearer":
            allowed = self.settings.iam_tokens
        # Compare every candidate in constant time; never echo the credential back.
        if not credential or not any(
            hmac.compare_digest(credential.encode(), key.encode()) for key in allowed
        ):
            raise ApiError(
                constants.GRPC_UNAUTHENTICATED,
                "the request is not authenticated: send 'Authorization: Api-Key <key>' "
                "or 'Authorization: Bearer <IAM token>' with a valid credential",
            )

    def spend(self, quota: str) -> None:
        """Count one request against ``quota`` ("submit" or "status"); 429 when it is used up."""
        window = self.quotas[quota]
        wait_s = window.try_acquire()
        if wait_s is None:
            return
        self.requests.throttled[quota] += 1
        what = "recognition requests" if quota == "submit" else "operation status checks"
        raise ApiError(
            constants.GRPC_RESOURCE_EXHAUSTED,
            f"quota exceeded: at most {window.limit} {what} per {window.window_s:g} s; "
            f"retry in {wait_s:.3f} s",
            headers={"Retry-After": retry_after_header(wait_s)},
        )

    def stats(self) -> dict[str, Any]:
        """Every counter, as JSON for /_emulator/stats."""
        operations = {op.id: op.stats() for op in self.operations.operations.values()}
        finished = [op for op in operations.values() if op["finished_at"] is not None]
        checks = sum(op["status_checks"] for op in operations.values())
        summary = {
            "operations": len(operations),
            "running": len(operations) - len(finished),
            "succeeded": sum(1 for op in finished if op["outcome"] == "response"),
            "failed": sum(1 for op in finished if op["outcome"] == "error"),
            "status_checks": checks,
            "checks_per_operation": checks / len(operations) if operations else None,
        }
        s = self.settings
        return {
            "settings": {
                "speed": s.speed,
                "seed": s.seed,
                "submit_quota": s.submit_quota,
                "status_quota": s.status_quota,
                "quota_window_s": s.effective_window_s,
                "ttl_s": s.effective_ttl_s,
                "max_concurrent": s.max_concurrent,
            },
            "summary": summary,
            **self.requests.as_json(),
            "operations": operations,
        }


async def read_json(request: web.Request) -> Any:
    """The request body as JSON; a 400 when it is not JSON."""
    text = await request.text()
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise invalid(f"request body is not valid JSON: {exc.msg} at position {exc.pos}") from exc


EMULATOR_KEY = web.AppKey("emulator", Emulator)


def emulator_of(request: web.Request) -> Emulator:
    """The Emulator behind the app that received ``request``."""
    return request.app[EMULATOR_KEY]
