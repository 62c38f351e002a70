"""Start the SpeechKit emulator in a test, wired to the moto S3 server of the fixtures.

    async with emulator(s3_server, speed=1000) as emu:
        url = emu.url            # base URL for transcribe_url and operation_url
        headers = AUTH_HEADERS   # Authorization: Api-Key <TEST_API_KEY>
        emu.stats()              # the /_emulator/stats counters

Audio must be uploaded to the S3 server first; link it with ``object_uri(bucket, key)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

from orchestrator.core.constants import STORAGE_URL
from orchestrator.emulator import EmulatorSettings, RunningEmulator, start_emulator

TEST_API_KEY = "test-emulator-api-key"
TEST_IAM_TOKEN = "test-emulator-iam-token"
AUTH_HEADERS = {"Authorization": f"Api-Key {TEST_API_KEY}"}
# Fast enough for tests: a minute of audio is processed in 0.01 s.
DEFAULT_TEST_SPEED = 1000.0


class S3ServerLike(Protocol):
    """What the emulator needs of an S3 server (tests/conftest.py's S3Server fits)."""

    @property
    def endpoint_url(self) -> str: ...
    @property
    def access_key(self) -> str: ...
    @property
    def secret_key(self) -> str: ...
    @property
    def region(self) -> str: ...


def object_uri(bucket: str, key: str) -> str:
    """The public storage link SpeechKit is given for an object."""
    return f"{STORAGE_URL}/{bucket}/{key}"


def emulator_settings(s3: S3ServerLike, **overrides: Any) -> EmulatorSettings:
    """Settings for a test emulator on a free loopback port reading from ``s3``."""
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "api_keys": (TEST_API_KEY,),
        "iam_tokens": (TEST_IAM_TOKEN,),
        "s3_endpoint_url": s3.endpoint_url,
        "s3_access_key": s3.access_key,
        "s3_secret_key": s3.secret_key,
        "s3_region": s3.region,
        "speed": DEFAULT_TEST_SPEED,
        "seed": 0,
    }
    values.update(overrides)
    return EmulatorSettings(**values)


@asynccontextmanager
async def emulator(s3: S3ServerLike, **overrides: Any) -> AsyncIterator[RunningEmulator]:
    """A running emulator for the duration of the block; ``overrides`` are EmulatorSettings."""
    running = await start_emulator(emulator_settings(s3, **overrides))
    try:
        yield running
    finally:
        await running.close()
