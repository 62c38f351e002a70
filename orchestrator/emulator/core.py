"""The emulator's state shared by every API module: settings, operations, quotas, counters."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from orchestrator.core import constants
from orchestrator.emulator import stats
from orchestrator.emulator.errors import ApiError, invalid
from orchestrator.emulator.faults import FaultInjector
from orchestrator.emulator.iam import Iam
from orchestrator.emulator.operations import OperationStore
from orchestrator.emulator.processor import Processor
from orchestrator.emulator.quota import (
    AudioMeter,
    QuotaMeter,
    billable_seconds,
    retry_after_header,
)
from orchestrator.emulator.settings import EmulatorSettings
from orchestrator.emulator.stats import RequestStats
from orchestrator.emulator.storage import ObjectFetcher

# The id every answer carries in x-request-id and in its error details.
REQUEST_ID = web.RequestKey("emulator_request_id", str)

# What each quota counts, for the 429 message.
_QUOTA_WHAT = {
    "submit": "recognition requests",
    "status": "operation status checks (API v2)",
    "v3_status": "status checks (API v3: operation and getRecognition requests)",
    "asr_xml": "asr_xml requests",
}
_ACCOUNT_ALPHABET = "abcdefghijklmnopqrstuv0123456789"


def account_id(credential: str) -> str:
    """A service-account id for a credential: 20 characters starting "aje", like the docs'.

    Derived from the credential's hash, so each key has its own account and none is shown.
    """
    number = int.from_bytes(hashlib.sha256(credential.encode()).digest()[:16], "big")
    chars = []
    for _ in range(17):
        number, digit = divmod(number, len(_ACCOUNT_ALPHABET))
        chars.append(_ACCOUNT_ALPHABET[digit])
    return "aje" + "".join(chars)


def matches(credential: str, allowed: tuple[str, ...]) -> bool:
    """Whether ``credential`` is one of ``allowed``, compared in constant time."""
    return bool(credential) and any(
        hmac.compare_digest(credential.encode(), key.encode()) for key in allowed
    )


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
        self.operations = OperationStore(
            ttl_s=settings.effective_ttl_s, resolution_s=settings.timestamp_resolution_wall_s
        )
        self.processor = Processor(settings, self.fetcher, self.count_audio)
        window = settings.effective_window_s
        self.quotas = {
            # v2 and v3 submissions share the recognition-request quota.
            "submit": QuotaMeter(settings.submit_quota, window),
            "status": QuotaMeter(settings.status_quota, window),
            "v3_status": QuotaMeter(
                settings.v3_status_quota, settings.effective_v3_status_window_s
            ),
            "asr_xml": QuotaMeter(settings.asr_xml_quota, settings.effective_asr_xml_window_s),
        }
        self.audio = AudioMeter(
            settings.audio_quota_hours * 3600.0, settings.effective_audio_window_s
        )
        self.requests = RequestStats()
        self.faults = FaultInjector(settings)
        self.iam = Iam(settings.effective_iam_token_lifetime_s)

    async def start(self) -> None:
        """Open the connections the emulator needs; write the authorized key if asked."""
        if self.settings.authorized_key_path:
            self.iam.write_authorized_key(Path(self.settings.authorized_key_path))
        await self.fetcher.start()

    async def close(self) -> None:
        """Stop processing and close connections."""
        await self.processor.close()
        await self.fetcher.close()

    def authenticate(self, request: web.Request) -> str:
        """Accept ``Api-Key <key>`` or ``Bearer <token>`` from the settings, or a Bearer
        token issued by the IAM endpoints and not yet expired; else 401.

        Returns the service-account id the Operation's ``createdBy`` shows.
        """
        scheme, _, credential = request.headers.get("Authorization", "").strip().partition(" ")
        credential = credential.strip()
        allowed: tuple[str, ...] = ()
        if scheme.lower() == "api-key":
            allowed = self.settings.api_keys
        elif scheme.lower() == "bearer":
            allowed = self.settings.iam_tokens
            if not matches(credential, allowed):
                return self._issued(credential)
        # Never echo the credential back.
        if not matches(credential, allowed):
            self.requests.unauthenticated["unknown"] += 1
            raise _unauthenticated()
        return account_id(credential)

    def count_audio(self, duration_s: float, channels: int) -> None:
        """Count an operation's audio against the daily audio quota, once it is read."""
        self.audio.add(billable_seconds(duration_s, channels))

    def _check_audio(self) -> None:
        """429 (code 8) when the window's billable audio is used up (a submission's check)."""
        wait_s = self.audio.wait_s()
        if wait_s is None:
            return
        raise self._exhausted(
            "audio",
            wait_s,
            f"{self.audio.limit_s / 3600.0:g} hours of audio per {self.audio.window_s:g} s",
        )

    def _issued(self, token: str) -> str:
        """The service account of an IAM token the IAM endpoints issued; else 401."""
        why = self.iam.check(token, time.time())
        if why is not None:
            self.requests.unauthenticated[why] += 1
            if why == "expired":
                raise ApiError(constants.GRPC_UNAUTHENTICATED, "the IAM token has expired")
            raise _unauthenticated()
        return self.iam.service_account_id

    def spend(self, quota: str) -> None:
        """Count one request against ``quota``; 429 (code 8) when it is used up. A
        submission is also refused while the audio quota is used up."""
        if quota == "submit":
            self._check_audio()
        meter = self.quotas[quota]
        wait_s = meter.try_acquire()
        if wait_s is None:
            return
        window = meter.window
        raise self._exhausted(
            quota, wait_s, f"{window.limit} {_QUOTA_WHAT[quota]} per {window.window_s:g} s"
        )

    def _exhausted(self, quota: str, wait_s: float, allowed: str) -> ApiError:
        """The 429 (code 8) of a used-up ``quota``, counted: "at most ``allowed``"."""
        self.requests.throttled[quota] += 1
        # No Yandex page documents Retry-After on 429, so it is only sent when asked for.
        headers = {"Retry-After": retry_after_header(wait_s)} if self.settings.retry_after else {}
        return ApiError(
            constants.GRPC_RESOURCE_EXHAUSTED, f"quota exceeded: at most {allowed}", headers=headers
        )

    def stats(self) -> dict[str, Any]:
        """Every counter, as JSON for /_emulator/stats."""
        built = {
            **stats.build(self.settings, self.requests, self.quotas, self.operations),
            "iam": self.iam.as_json(),
        }
        built["audio_quota"] = self.audio.as_json()
        return built


async def read_json(request: web.Request) -> Any:
    """The request body as JSON; a 400 when it is not JSON (or not UTF-8)."""
    data = await request.read()
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise invalid(f"request body is not UTF-8: byte {exc.start} cannot be decoded") from exc
    except json.JSONDecodeError as exc:
        raise invalid(f"request body is not valid JSON: {exc.msg} at position {exc.pos}") from exc


def _unauthenticated() -> ApiError:
    return ApiError(
        constants.GRPC_UNAUTHENTICATED,
        "the request is not authenticated: send 'Authorization: Api-Key <key>' "
        "or 'Authorization: Bearer <IAM token>' with a valid credential",
    )


EMULATOR_KEY = web.AppKey("emulator", Emulator)


def emulator_of(request: web.Request) -> Emulator:
    """The Emulator behind the app that received ``request``."""
    return request.app[EMULATOR_KEY]
