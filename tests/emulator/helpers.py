"""Requests and audio the emulator tests share."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import aiohttp

from orchestrator.core.constants import (
    OPERATION_PATH,
    REQUEST_INFO_TYPE,
    V2_SUBMIT_PATH,
    V3_RESULT_PATH,
    V3_SUBMIT_PATH,
)
from tests.support.emulator import AUTH_HEADERS
from tests.support.waiting import poll_until

DATA = Path(__file__).parent / "data"
STEREO_OGG = DATA / "stereo-3s.ogg"  # Ogg Opus, 3.0 s, 2 channels
MONO_MP3 = DATA / "mono-2s.mp3"  # MP3, about 2.09 s, 1 channel
WAIT_S = 20.0


def sine_lpcm(seconds: float, rate: int, channels: int, freq: float = 440.0) -> bytes:
    """Raw 16-bit little-endian LPCM (no header): a sine on every channel."""
    frames = int(seconds * rate)
    samples = [int(8000 * math.sin(2 * math.pi * freq * i / rate)) for i in range(frames)]
    return b"".join(struct.pack("<" + "h" * channels, *([s] * channels)) for s in samples)


def v2_body(uri: str, **spec: Any) -> dict[str, Any]:
    """A v2 request body as the documentation shows it."""
    return {"config": {"specification": spec}, "audio": {"uri": uri}}


def op_url(base: str, operation_id: str) -> str:
    """URL of GET /operations/{id}."""
    return base + OPERATION_PATH.format(operation_id=operation_id)


async def submit(session: aiohttp.ClientSession, base: str, body: Any) -> dict[str, Any]:
    """POST a v2 submission that must be accepted; the Operation."""
    async with session.post(base + V2_SUBMIT_PATH, json=body, headers=AUTH_HEADERS) as answer:
        payload: dict[str, Any] = await answer.json()
        assert answer.status == 200, payload
        return payload


async def wait_done(session: aiohttp.ClientSession, base: str, operation_id: str) -> dict[str, Any]:
    """Poll GET /operations/{id} until done (or fail after WAIT_S)."""
    return await poll_until(
        lambda: get_operation(session, base, operation_id),
        lambda payload: bool(payload["done"]),
        limit_s=WAIT_S,
        what=f"finished operation {operation_id}",
    )


async def get_operation(
    session: aiohttp.ClientSession, base: str, operation_id: str
) -> dict[str, Any]:
    """GET /operations/{id}, which must answer 200; the Operation."""
    async with session.get(op_url(base, operation_id), headers=AUTH_HEADERS) as answer:
        payload: dict[str, Any] = await answer.json()
        assert answer.status == 200, payload
    return payload


async def recognize(session: aiohttp.ClientSession, base: str, body: Any) -> dict[str, Any]:
    """Submit and wait: the finished Operation."""
    operation = await submit(session, base, body)
    return await wait_done(session, base, operation["id"])


def assert_error(payload: Any, code: int, headers: Any) -> None:
    """An error body in the service's shape, its RequestInfo matching x-request-id."""
    assert payload["code"] == code, payload
    assert isinstance(payload["message"], str)
    assert payload["details"] == [
        {"@type": REQUEST_INFO_TYPE, "requestId": headers["x-request-id"]}
    ]


def seconds(duration: str) -> float:
    """A protobuf Duration string ("0.879999999s") as seconds."""
    assert duration.endswith("s"), duration
    return float(duration[:-1])


def texts(operation: dict[str, Any]) -> dict[str, list[str]]:
    """The chunk texts of a finished v2 operation, per channelTag."""
    result: dict[str, list[str]] = {}
    for chunk in operation["response"].get("chunks", []):
        result.setdefault(chunk["channelTag"], []).append(chunk["alternatives"][0]["text"])
    return result


def v3_body(uri: str, container: str = "OGG_OPUS", **model: Any) -> dict[str, Any]:
    """A v3 request body (camelCase) with a container format and extra recognitionModel keys."""
    return {
        "uri": uri,
        "recognitionModel": {
            "model": "general",
            "audioFormat": {"containerAudio": {"containerAudioType": container}},
            **model,
        },
    }


async def submit_v3(session: aiohttp.ClientSession, base: str, body: Any) -> dict[str, Any]:
    """POST a v3 submission that must be accepted; the Operation."""
    async with session.post(base + V3_SUBMIT_PATH, json=body, headers=AUTH_HEADERS) as answer:
        payload: dict[str, Any] = await answer.json()
        assert answer.status == 200, payload
        return payload


async def results_v3(
    session: aiohttp.ClientSession, base: str, operation_id: str, param: str = "operationId"
) -> tuple[int, list[dict[str, Any]]]:
    """GET getRecognition: the status and the results, one JSON object per line."""
    url = f"{base}{V3_RESULT_PATH}?{param}={operation_id}"
    async with session.get(url, headers=AUTH_HEADERS) as answer:
        text = await answer.text()
        if answer.status != 200:
            return answer.status, [json.loads(text)]
        return 200, [json.loads(line) for line in text.splitlines() if line.strip()]


async def recognize_v3(
    session: aiohttp.ClientSession, base: str, body: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Submit, wait, fetch: the finished Operation and its results (results only if 200)."""
    operation = await wait_done(session, base, (await submit_v3(session, base, body))["id"])
    status, lines = await results_v3(session, base, operation["id"])
    return operation, lines if status == 200 else []


def finals(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The results that carry a ``final``."""
    return [line["result"] for line in lines if "final" in line["result"]]
