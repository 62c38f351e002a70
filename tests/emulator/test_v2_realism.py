"""API v2 details that follow the real service: timestamps, createdBy, silence, failures."""

from __future__ import annotations

import re
from typing import Any

import aiohttp

from orchestrator.emulator import RunningEmulator
from tests.conftest import S3Server
from tests.emulator.helpers import op_url, recognize, submit, texts, v2_body, wait_done
from tests.support.emulator import AUTH_HEADERS, TEST_IAM_TOKEN, emulator
from tests.support.waiting import poll_until

WHOLE_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
SILENCE = {"audioEncoding": "LINEAR16_PCM", "sampleRateHertz": 16000}


async def test_timestamps_are_whole_seconds_of_service_time(
    s3_server: S3Server, session: aiohttp.ClientSession, audio: dict[str, str]
) -> None:
    async with emulator(s3_server, speed=1) as emu:
        body = v2_body(audio["mono.mp3"], audioEncoding="MP3")
        submitted = await submit(session, emu.url, body)
        operation = await wait_done(session, emu.url, submitted["id"])
    for stamp in (submitted["createdAt"], operation["createdAt"], operation["modifiedAt"]):
        assert WHOLE_SECONDS.match(stamp), stamp


async def test_timestamps_follow_the_clock_speed(
    s3_server: S3Server, session: aiohttp.ClientSession, audio: dict[str, str]
) -> None:
    # At speed 100 a service second is 10 ms: timestamps are cut to hundredths.
    async with emulator(s3_server, speed=100) as emu:
        operation = await recognize(session, emu.url, v2_body(audio["stereo.ogg"]))
    for stamp in (operation["createdAt"], operation["modifiedAt"]):
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d\d0)?Z$", stamp), stamp


async def test_created_by_is_a_service_account_per_credential(
    emu: RunningEmulator, session: aiohttp.ClientSession, audio: dict[str, str]
) -> None:
    first = await submit(session, emu.url, v2_body(audio["stereo.ogg"]))
    second = await submit(session, emu.url, v2_body(audio["stereo.ogg"]))
    async with session.post(
        emu.url + "/speech/stt/v2/longRunningRecognize",
        json=v2_body(audio["stereo.ogg"]),
        headers={"Authorization": f"Bearer {TEST_IAM_TOKEN}"},
    ) as a:
        by_token = await a.json()
    assert re.fullmatch(r"aje[a-v0-9]{17}", first["createdBy"])
    assert first["createdBy"] == second["createdBy"] != by_token["createdBy"]


async def test_silence_finishes_without_chunks(
    emu: RunningEmulator, session: aiohttp.ClientSession, audio: dict[str, str]
) -> None:
    operation = await recognize(session, emu.url, v2_body(audio["silence16k.raw"], **SILENCE))
    assert "error" not in operation
    assert "chunks" not in operation["response"]
    assert emu.stats()["operations"][operation["id"]]["silent"] is True


async def test_language_codes_are_case_insensitive(
    emu: RunningEmulator, session: aiohttp.ClientSession, audio: dict[str, str]
) -> None:
    body = v2_body(audio["stereo.ogg"], languageCode="EN-us")
    operation = await recognize(session, emu.url, body)
    assert all(text.isascii() for chunks in texts(operation).values() for text in chunks)


async def test_failed_operations_can_end_with_transient_codes(
    s3_server: S3Server, session: aiohttp.ClientSession, audio: dict[str, str]
) -> None:
    async with emulator(s3_server, op_error_rate=1.0, op_error_codes=(4, 13, 14)) as emu:
        codes = set()
        for _ in range(6):
            operation = await recognize(session, emu.url, v2_body(audio["stereo.ogg"]))
            assert "response" not in operation
            assert operation["error"]["details"] == []
            codes.add(operation["error"]["code"])
    assert codes <= {4, 13, 14}
    assert len(codes) > 1


async def _until_error(
    session: aiohttp.ClientSession, base: str, operation_id: str
) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        async with session.get(op_url(base, operation_id), headers=AUTH_HEADERS) as a:
            payload: dict[str, Any] = await a.json()
        return payload

    return await poll_until(
        read,
        lambda payload: "error" in payload or bool(payload["done"]),
        limit_s=20,
        what=f"failed operation {operation_id}",
    )


async def test_a_failed_operation_may_say_done_false(
    s3_server: S3Server, session: aiohttp.ClientSession, audio: dict[str, str]
) -> None:
    faults = {"op_error_rate": 1.0, "op_error_undone_rate": 1.0, "op_error_codes": (14,)}
    async with emulator(s3_server, **faults) as emu:
        submitted = await submit(session, emu.url, v2_body(audio["stereo.ogg"]))
        operation = await _until_error(session, emu.url, submitted["id"])
        stats = emu.stats()["operations"][submitted["id"]]
    # operation.proto allows `done: false` with `error`; a client must treat it as finished.
    assert operation["done"] is False
    assert operation["error"]["code"] == 14
    assert (stats["outcome"], stats["error_undone"]) == ("error", True)
