"""API v3 over real HTTP: results before done, expiry, deletion, quotas and credentials."""

from __future__ import annotations

import time

import aiohttp

from orchestrator.core.constants import (
    EMPTY_RESPONSE_TYPE,
    V2_SUBMIT_PATH,
    V3_DELETE_PATH,
    V3_RESULT_PATH,
    V3_SUBMIT_PATH,
)
from orchestrator.emulator import RunningEmulator
from tests.conftest import S3Server
from tests.emulator.helpers import (
    assert_error,
    finals,
    op_url,
    recognize_v3,
    results_v3,
    submit,
    submit_v3,
    v2_body,
    v3_body,
    wait_done,
)
from tests.support.emulator import AUTH_HEADERS, emulator

URI = "https://storage.yandexcloud.net/bucket/audio.ogg"


async def test_get_recognition_before_done_is_404(
    s3_server: S3Server, session: aiohttp.ClientSession, audio: dict[str, str]
) -> None:
    # At real speed the deferred model needs minutes for these 3 s: surely not done yet.
    async with emulator(s3_server, speed=1) as emu:
        body = v3_body(audio["stereo.ogg"])
        body["recognitionModel"]["model"] = "deferred-general"
        operation = await submit_v3(session, emu.url, body)
        status, (payload,) = await results_v3(session, emu.url, operation["id"], "operation_id")
        assert (status, payload["code"]) == (404, 5)
        assert "not done" in payload["message"]
        assert emu.stats()["operations"][operation["id"]]["result_fetches"] == 1


async def test_results_and_operation_expire_after_ttl(
    s3_server: S3Server, session: aiohttp.ClientSession, audio: dict[str, str]
) -> None:
    async with emulator(s3_server, ttl_s=0.3) as emu:
        operation = await submit_v3(session, emu.url, v3_body(audio["stereo.ogg"]))
        await wait_done(session, emu.url, operation["id"])
        deadline = time.monotonic() + 10
        status = 200
        while status == 200 and time.monotonic() < deadline:
            status, lines = await results_v3(session, emu.url, operation["id"])
        assert (status, lines[0]["code"]) == (404, 5)
        async with session.get(op_url(emu.url, operation["id"]), headers=AUTH_HEADERS) as a:
            assert a.status == 404
        assert emu.stats()["operations"][operation["id"]]["expired"] is True


async def test_delete_recognition_removes_the_results(
    emu: RunningEmulator, session: aiohttp.ClientSession, audio: dict[str, str]
) -> None:
    operation, lines = await recognize_v3(session, emu.url, v3_body(audio["stereo.ogg"]))
    assert lines
    url = f"{emu.url}{V3_DELETE_PATH}?operationId={operation['id']}"
    async with session.delete(url, headers=AUTH_HEADERS) as a:
        assert (a.status, await a.json()) == (200, {})
    status, (payload,) = await results_v3(session, emu.url, operation["id"])
    assert (status, payload["code"]) == (404, 5)
    async with session.delete(url, headers=AUTH_HEADERS) as a:
        assert a.status == 404
    # The operation itself stays readable.
    assert (await wait_done(session, emu.url, operation["id"]))["done"] is True
    assert emu.stats()["operations"][operation["id"]]["results_deleted"] is True


async def test_get_recognition_query_parameter_checks(
    emu: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    for query in ("", "?operationId=", f"?operationId={'x' * 51}", "?operationId=a&operation_id=b"):
        async with session.get(emu.url + V3_RESULT_PATH + query, headers=AUTH_HEADERS) as a:
            assert a.status == 400, query
            assert_error(await a.json(), 3, a.headers)
    status, (payload,) = await results_v3(session, emu.url, "f8dnosuchoperation000")
    assert (status, payload["code"]) == (404, 5)


async def test_v3_status_checks_have_their_own_per_second_quota(
    s3_server: S3Server, session: aiohttp.ClientSession
) -> None:
    async with emulator(s3_server, v3_status_quota=2, v3_status_window_s=60) as emu:
        # The operation GET of a v3 id and getRecognition both count.
        async with session.get(op_url(emu.url, "f8dnosuchoperation000"), headers=AUTH_HEADERS) as a:
            assert a.status == 404
        status, _ = await results_v3(session, emu.url, "f8dnosuchoperation000")
        assert status == 404
        async with session.get(op_url(emu.url, "f8dnosuchoperation000"), headers=AUTH_HEADERS) as a:
            assert a.status == 429
            assert_error(await a.json(), 8, a.headers)
            assert "Retry-After" not in a.headers
        status, (payload,) = await results_v3(session, emu.url, "f8dnosuchoperation000")
        assert (status, payload["code"]) == (429, 8)
        # v2 status checks are counted apart.
        async with session.get(op_url(emu.url, "e03nosuchoperation000"), headers=AUTH_HEADERS) as a:
            assert a.status == 404
        quota = emu.stats()["quotas"]["v3_status"]
        assert (quota["accepted"], quota["throttled"], quota["max_in_window"]) == (2, 2, 4)
        assert len(quota["arrivals"]) == 4
        assert emu.stats()["throttled"] == {"v3_status": 2}


async def test_v2_and_v3_submissions_share_one_quota(
    s3_server: S3Server, session: aiohttp.ClientSession
) -> None:
    async with emulator(s3_server, submit_quota=2, quota_window_s=60) as emu:
        await submit(session, emu.url, v2_body(URI))
        await submit_v3(session, emu.url, v3_body(URI))
        async with session.post(
            emu.url + V3_SUBMIT_PATH, json=v3_body(URI), headers=AUTH_HEADERS
        ) as a:
            assert a.status == 429
        async with session.post(
            emu.url + V2_SUBMIT_PATH, json=v2_body(URI), headers=AUTH_HEADERS
        ) as a:
            assert a.status == 429
        stats = emu.stats()
        assert stats["quotas"]["submit"]["throttled"] == 2
        by_api = stats["requests_by_api"]
        assert by_api["v3"][f"POST {V3_SUBMIT_PATH}"] == {"200": 1, "429": 1}
        assert by_api["v2"][f"POST {V2_SUBMIT_PATH}"] == {"200": 1, "429": 1}


async def test_every_v3_endpoint_wants_credentials(
    emu: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    bad = {"Authorization": "Api-Key wrong"}
    query = "?operationId=f8dnosuchoperation000"
    calls = [
        session.post(emu.url + V3_SUBMIT_PATH, json=v3_body(URI), headers=bad),
        session.get(emu.url + V3_RESULT_PATH + query, headers=bad),
        session.delete(emu.url + V3_DELETE_PATH + query, headers=bad),
        session.get(op_url(emu.url, "f8dnosuchoperation000"), headers=bad),
    ]
    for call in calls:
        async with call as a:
            assert a.status == 401
            assert_error(await a.json(), 16, a.headers)


async def test_empty_response_option(
    s3_server: S3Server, session: aiohttp.ClientSession, audio: dict[str, str]
) -> None:
    async with emulator(s3_server, v3_empty_response=True) as emu:
        operation, lines = await recognize_v3(session, emu.url, v3_body(audio["stereo.ogg"]))
    assert operation["response"] == {"@type": EMPTY_RESPONSE_TYPE}
    assert finals(lines)
