"""Authentication, request ids, unknown operations and routes, quotas and expiry."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from orchestrator.core.constants import V2_SUBMIT_PATH, V3_SUBMIT_PATH
from orchestrator.emulator import RunningEmulator
from tests.conftest import S3Server
from tests.emulator.helpers import (
    assert_error,
    op_url,
    submit,
    v2_body,
    v3_body,
    wait_done,
)
from tests.support.emulator import AUTH_HEADERS, TEST_API_KEY, TEST_IAM_TOKEN, emulator

URI = "https://storage.yandexcloud.net/bucket/audio.ogg"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no header"),
        pytest.param({"Authorization": "Api-Key wrong-key"}, id="wrong key"),
        pytest.param({"Authorization": f"Bearer {TEST_API_KEY}"}, id="key sent as token"),
        pytest.param({"Authorization": f"Api-Key {TEST_IAM_TOKEN}"}, id="token sent as key"),
        pytest.param({"Authorization": "Api-Key"}, id="empty key"),
        pytest.param({"Authorization": f"Basic {TEST_API_KEY}"}, id="other scheme"),
    ],
)
async def test_bad_credentials_are_401_on_both_endpoints(
    emu: RunningEmulator, session: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    async with session.post(emu.url + V2_SUBMIT_PATH, json=v2_body(URI), headers=headers) as a:
        submitted = await a.json()
        assert a.status == 401
        assert_error(submitted, 16, a.headers)
    async with session.get(op_url(emu.url, "e03whatever"), headers=headers) as a:
        polled = await a.json()
        assert a.status == 401
        assert_error(polled, 16, a.headers)
    for payload in (submitted, polled):
        assert "wrong-key" not in payload["message"]
        assert TEST_API_KEY not in payload["message"]


async def test_bearer_token_is_accepted(
    emu: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    headers = {"Authorization": f"Bearer {TEST_IAM_TOKEN}"}
    async with session.post(emu.url + V2_SUBMIT_PATH, json=v2_body(URI), headers=headers) as a:
        assert a.status == 200


async def test_unknown_operation_is_404_and_every_answer_has_a_request_id(
    emu: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    async with session.get(op_url(emu.url, "e03nosuchoperation00"), headers=AUTH_HEADERS) as a:
        payload = await a.json()
        assert a.status == 404
        first_id = a.headers["x-request-id"]
    assert payload["code"] == 5
    async with session.get(emu.url + "/no/such/path", headers=AUTH_HEADERS) as a:
        assert a.status == 404
        assert (await a.json())["code"] == 5
        assert a.headers["x-request-id"] != first_id
    async with session.get(emu.url + V2_SUBMIT_PATH, headers=AUTH_HEADERS) as a:
        assert a.status == 405
        assert a.headers["x-request-id"]


async def test_submission_quota_answers_429_without_retry_after(
    s3_server: S3Server, session: aiohttp.ClientSession
) -> None:
    async with emulator(s3_server, submit_quota=2, quota_window_s=60) as emu:
        await submit(session, emu.url, v2_body(URI))
        # An invalid request spends quota too: the client cannot know it is invalid.
        async with session.post(emu.url + V2_SUBMIT_PATH, json={}, headers=AUTH_HEADERS) as a:
            assert a.status == 400
        async with session.post(
            emu.url + V2_SUBMIT_PATH, json=v2_body(URI), headers=AUTH_HEADERS
        ) as a:
            payload = await a.json()
            assert a.status == 429
            # No Yandex page documents Retry-After, so by default there is none.
            assert "Retry-After" not in a.headers
            assert_error(payload, 8, a.headers)
        assert "quota" in payload["message"]
        stats = emu.stats()
        assert stats["throttled"] == {"submit": 1}
        assert stats["requests"][f"POST {V2_SUBMIT_PATH}"]["429"] == 1
        assert len(stats["operations"]) == 1


async def test_the_daily_audio_quota_refuses_submissions_once_used_up(
    s3_server: S3Server, session: aiohttp.ClientSession, audio: dict[str, str]
) -> None:
    # 30 billable seconds per 3 s window: two 3 s stereo files bill 15 s each.
    hours = 30 / 3600
    async with emulator(s3_server, audio_quota_hours=hours, audio_window_s=3.0) as emu:
        for _ in range(2):
            operation = await submit(session, emu.url, v2_body(audio["stereo.ogg"]))
            await wait_done(session, emu.url, operation["id"])
        for path, body in (
            (V2_SUBMIT_PATH, v2_body(audio["stereo.ogg"])),
            (V3_SUBMIT_PATH, v3_body(audio["stereo.ogg"])),
        ):
            async with session.post(emu.url + path, json=body, headers=AUTH_HEADERS) as a:
                payload = await a.json()
                assert a.status == 429
                assert "Retry-After" not in a.headers
                assert_error(payload, 8, a.headers)
            assert "hours of audio" in payload["message"]
        stats = emu.stats()
        assert stats["throttled"] == {"audio": 2}
        assert stats["audio_quota"]["used_s"] == pytest.approx(30.0)
        # A refused submission spent no request quota.
        assert stats["quotas"]["submit"]["accepted"] == 2
        # Once the window has slid past the audio, submissions are taken again.
        deadline = time.monotonic() + 10
        status = 429
        while status == 429 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            body = v2_body(audio["stereo.ogg"])
            async with session.post(emu.url + V2_SUBMIT_PATH, json=body, headers=AUTH_HEADERS) as a:
                status = a.status
        assert status == 200


async def test_retry_after_is_sent_when_asked_for(
    s3_server: S3Server, session: aiohttp.ClientSession
) -> None:
    async with emulator(s3_server, status_quota=1, quota_window_s=60, retry_after=True) as emu:
        url = op_url(emu.url, "e03nosuchoperation00")
        async with session.get(url, headers=AUTH_HEADERS) as a:
            assert a.status == 404
        async with session.get(url, headers=AUTH_HEADERS) as a:
            assert a.status == 429
            assert 1 <= int(a.headers["Retry-After"]) <= 60


async def test_status_quota_slides_and_frees_a_slot(
    s3_server: S3Server, session: aiohttp.ClientSession
) -> None:
    async with emulator(s3_server, status_quota=1, quota_window_s=0.3) as emu:
        url = op_url(emu.url, "e03nosuchoperation00")
        async with session.get(url, headers=AUTH_HEADERS) as a:
            assert a.status == 404
        async with session.get(url, headers=AUTH_HEADERS) as a:
            assert a.status == 429
            assert (await a.json())["code"] == 8
        # Once the window has slid past the first check, a check is allowed again.
        deadline = time.monotonic() + 10
        status = 429
        while status == 429 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            async with session.get(url, headers=AUTH_HEADERS) as a:
                status = a.status
        assert status == 404
        assert emu.stats()["throttled"]["status"] >= 1


async def test_results_expire_after_ttl(
    s3_server: S3Server, s3_bucket: str, session: aiohttp.ClientSession
) -> None:
    async with emulator(s3_server, ttl_s=0.2) as emu:
        uri = f"https://storage.yandexcloud.net/{s3_bucket}/missing.ogg"
        operation = await submit(session, emu.url, v2_body(uri))
        done = await wait_done(session, emu.url, operation["id"])
        assert done["done"] is True
        deadline = time.monotonic() + 10
        status = 200
        while status == 200 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            async with session.get(op_url(emu.url, operation["id"]), headers=AUTH_HEADERS) as a:
                status = a.status
                payload = await a.json()
        assert status == 404
        assert payload["code"] == 5
        assert emu.stats()["operations"][operation["id"]]["expired"] is True
