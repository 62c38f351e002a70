"""Injected faults (seeded) and the /_emulator/stats counters."""

from __future__ import annotations

import itertools

import aiohttp
import pytest

from orchestrator.core.constants import ASR_XML_PATH, OPERATION_PATH, V2_SUBMIT_PATH, V3_SUBMIT_PATH
from orchestrator.emulator import STATS_PATH, RunningEmulator
from tests.conftest import S3Server
from tests.emulator.helpers import (
    assert_error,
    op_url,
    recognize,
    results_v3,
    submit,
    submit_v3,
    v2_body,
    v3_body,
    wait_done,
)
from tests.support.emulator import AUTH_HEADERS, TEST_API_KEY, emulator

URI = "https://storage.yandexcloud.net/bucket/audio.ogg"


async def test_5xx_faults_have_error_bodies(
    s3_server: S3Server, session: aiohttp.ClientSession
) -> None:
    async with emulator(s3_server, error_5xx_rate=1.0) as emu:
        statuses = set()
        for _ in range(8):
            async with session.post(
                emu.url + V2_SUBMIT_PATH, json=v2_body(URI), headers=AUTH_HEADERS
            ) as a:
                payload = await a.json()
                statuses.add(a.status)
                assert a.headers["x-request-id"]
            assert payload["code"] == {500: 13, 503: 14}[a.status]
        assert statuses <= {500, 503}
        # The counters are never faulty.
        async with session.get(emu.url + STATS_PATH) as a:
            assert a.status == 200
            assert (await a.json())["faults"] == {"5xx": 8}


async def test_faults_reach_v3_and_asr_xml_too(
    s3_server: S3Server, session: aiohttp.ClientSession
) -> None:
    asr_xml = f"{ASR_XML_PATH}?uuid={'0' * 32}&key={TEST_API_KEY}&topic=queries"
    async with emulator(s3_server, error_5xx_rate=1.0) as emu:
        for path in (V3_SUBMIT_PATH, asr_xml):
            async with session.post(emu.url + path, data=b"{}", headers=AUTH_HEADERS) as a:
                assert a.status in (500, 503)
                assert_error(await a.json(), {500: 13, 503: 14}[a.status], a.headers)
    async with emulator(s3_server, reset_rate=1.0) as emu:
        with pytest.raises(aiohttp.ClientConnectionError):
            async with session.post(emu.url + asr_xml, data=b"x", headers=AUTH_HEADERS):
                pass
        assert emu.stats()["requests_by_api"]["asr_xml"][f"POST {ASR_XML_PATH}"] == {"reset": 1}


async def test_failed_v3_operations_answer_their_error_from_get_recognition(
    s3_server: S3Server, session: aiohttp.ClientSession, audio: dict[str, str]
) -> None:
    async with emulator(s3_server, op_error_rate=1.0, op_error_codes=(14,)) as emu:
        submitted = await submit_v3(session, emu.url, v3_body(audio["stereo.ogg"]))
        operation = await wait_done(session, emu.url, submitted["id"])
        status, (payload,) = await results_v3(session, emu.url, submitted["id"])
    assert operation["error"]["code"] == 14
    assert (status, payload["code"]) == (503, 14)


async def test_reset_faults_drop_the_connection(
    s3_server: S3Server, session: aiohttp.ClientSession
) -> None:
    async with emulator(s3_server, reset_rate=1.0) as emu:
        with pytest.raises(aiohttp.ClientConnectionError):
            async with session.get(op_url(emu.url, "e03x"), headers=AUTH_HEADERS):
                pass
        assert emu.stats()["requests"][f"GET {OPERATION_PATH}"].get("reset", 0) >= 1


async def test_slow_answers_still_answer(
    s3_server: S3Server, session: aiohttp.ClientSession
) -> None:
    async with emulator(s3_server, slow_rate=1.0, slow_s=0.01) as emu:
        async with session.get(op_url(emu.url, "e03x"), headers=AUTH_HEADERS) as a:
            assert a.status == 404
        assert emu.stats()["faults"] == {"slow": 1}


async def test_faults_follow_the_seed(s3_server: S3Server, session: aiohttp.ClientSession) -> None:
    async def statuses(seed: int) -> list[int]:
        async with emulator(s3_server, error_5xx_rate=0.5, seed=seed) as emu:
            result = []
            for _ in range(16):
                async with session.get(op_url(emu.url, "e03x"), headers=AUTH_HEADERS) as a:
                    result.append(a.status)
            return result

    first = await statuses(7)
    assert first == await statuses(7)
    assert {404, 500, 503} & set(first) > {404}


async def test_operation_faults_end_with_error(
    s3_server: S3Server, session: aiohttp.ClientSession, audio: dict[str, str]
) -> None:
    async with emulator(s3_server, op_error_rate=1.0) as emu:
        operation = await recognize(session, emu.url, v2_body(audio["stereo.ogg"]))
        assert operation["error"]["code"] in (3, 13)
        assert "response" not in operation


async def test_stats_count_requests_and_operations(
    emu: RunningEmulator, session: aiohttp.ClientSession, audio: dict[str, str]
) -> None:
    before = emu.stats()["operations"]
    operation = await submit(session, emu.url, v2_body(audio["stereo.ogg"]))
    await wait_done(session, emu.url, operation["id"])
    # One more check after done: counted, but the first one stays the first.
    await wait_done(session, emu.url, operation["id"])
    async with session.get(emu.url + STATS_PATH) as a:
        assert a.status == 200
        stats = await a.json()
    assert before == {}
    entry = stats["operations"][operation["id"]]
    assert entry["model"] == "general"
    assert entry["channels"] == 2
    assert entry["created_at"] <= entry["finished_at"] <= entry["first_check_after_done"]
    assert entry["checks_after_done"] == 2
    assert entry["status_checks"] >= 2
    assert entry["lag_s"] >= 0
    polls = stats["requests"][f"GET {OPERATION_PATH}"]["200"]
    assert polls == entry["status_checks"]
    assert stats["requests"][f"POST {V2_SUBMIT_PATH}"] == {"200": 1}
    assert stats["summary"]["succeeded"] == 1
    assert stats["throttled_total"] == 0


async def test_deferred_model_is_recorded(
    emu: RunningEmulator, session: aiohttp.ClientSession, audio: dict[str, str]
) -> None:
    body = v2_body(audio["mono.mp3"], audioEncoding="MP3", model="deferred-general")
    operation = await recognize(session, emu.url, body)
    assert "response" in operation
    assert emu.stats()["operations"][operation["id"]]["model"] == "deferred-general"


async def test_concurrency_limit_queues_operations(
    s3_server: S3Server, session: aiohttp.ClientSession, audio: dict[str, str]
) -> None:
    async with emulator(s3_server, max_concurrent=1, speed=20) as emu:
        submitted = [await submit(session, emu.url, v2_body(audio["stereo.ogg"])) for _ in range(3)]
        for operation in submitted:
            await wait_done(session, emu.url, operation["id"])
        entries = sorted(emu.stats()["operations"].values(), key=lambda op: op["started_at"])
    # One slot: each operation starts only after the one before it has finished.
    for before, after in itertools.pairwise(entries):
        assert after["started_at"] >= before["finished_at"]
