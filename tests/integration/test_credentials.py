"""The renewing credentials against the emulator's IAM and metadata endpoints: one renewal
for every request in flight, a 401 renewed and sent again, a failed renewal that says so."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from structlog.testing import capture_logs

from orchestrator.auth import Credentials, CredentialsError, CredentialsUnavailable
from orchestrator.auth.sources import AuthorizedKeySource, MetadataSource
from orchestrator.config import config_from_mapping
from orchestrator.config.authorized_key import parse_authorized_key
from orchestrator.config.schema import SpeechKitConfig
from orchestrator.core.constants import METADATA_TOKEN_PATH
from orchestrator.emulator import EmulatorSettings, RunningEmulator, start_emulator
from orchestrator.speechkit.errors import ErrorKind, SpeechKitError
from orchestrator.speechkit.http import Http, get_operation
from orchestrator.telemetry.metrics import DaemonMetrics
from tests.support.clock import Clock


@pytest.fixture
async def emu(tmp_path: Path) -> AsyncIterator[RunningEmulator]:
    settings = EmulatorSettings(
        api_keys=(), iam_token_lifetime_s=60.0, authorized_key_path=str(tmp_path / "key.json")
    )
    async with await start_emulator(settings) as running:
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


def speechkit(tmp_path: Path, **keys: object) -> SpeechKitConfig:
    """The speechkit section of a config with ``keys``."""
    mapping = {"speechkit": keys, "storage": {"bucket": "audio"}}
    return config_from_mapping(mapping, base_dir=tmp_path, env={}).speechkit


def key_config(tmp_path: Path, emu: RunningEmulator) -> SpeechKitConfig:
    return speechkit(
        tmp_path,
        authorized_key_file=str(tmp_path / "key.json"),
        iam_url=emu.url + "/iam/v1/tokens",
        operation_url=emu.url,
    )


async def check(http: Http, emu: RunningEmulator) -> ErrorKind:
    """One status check of an unknown operation: NOT_FOUND once authenticated."""
    try:
        await get_operation(http, emu.url, "e03nosuchoperation00")
    except SpeechKitError as exc:
        return exc.kind
    raise AssertionError("an unknown operation was found")


async def test_one_renewal_serves_every_request_in_flight(
    tmp_path: Path, emu: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    credentials = Credentials(key_config(tmp_path, emu), session)
    headers = await asyncio.gather(*(credentials.headers() for _ in range(20)))
    assert len({h["Authorization"] for h in headers}) == 1
    assert emu.stats()["iam"]["tokens_issued"] == {"jwt": 1}
    kinds = await asyncio.gather(*(check(Http(session, credentials), emu) for _ in range(5)))
    assert set(kinds) == {ErrorKind.NOT_FOUND}
    assert credentials.ok
    assert credentials.source == "authorized_key"


async def test_a_401_renews_the_token_once_and_the_requests_go_again(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    settings = EmulatorSettings(
        api_keys=(), iam_token_lifetime_s=1.0, authorized_key_path=str(tmp_path / "key.json")
    )
    async with await start_emulator(settings) as emu:
        # The daemon's clock stands still: it cannot see the token expire, the service can.
        credentials = Credentials(key_config(tmp_path, emu), session, clock=Clock(time.time()))
        http = Http(session, credentials)
        assert await check(http, emu) is ErrorKind.NOT_FOUND
        await asyncio.sleep(1.2)
        kinds = await asyncio.gather(*(check(http, emu) for _ in range(8)))
        stats = emu.stats()
    assert set(kinds) == {ErrorKind.NOT_FOUND}
    assert stats["iam"]["tokens_issued"] == {"jwt": 2}
    assert stats["unauthenticated"] == {"expired": 8}


async def test_a_failed_renewal_keeps_requests_unsent_and_says_so(
    tmp_path: Path, emu: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # nothing listens there once the socket closes
    config = speechkit(
        tmp_path,
        metadata_token=True,
        metadata_url=f"http://127.0.0.1:{closed}",
        operation_url=emu.url,
    )
    metrics = DaemonMetrics()
    credentials = Credentials(config, session, metrics=metrics)
    with capture_logs() as logs, pytest.raises(SpeechKitError) as raised:
        await get_operation(Http(session, credentials), emu.url, "e03nosuchoperation00")
    (event,) = [e for e in logs if e["event"] == "credentials.refresh_failed"]
    assert event["source"] == "metadata"
    assert event["log_level"] == "error"
    assert event["error"].startswith(f"the metadata service at http://127.0.0.1:{closed}")
    assert raised.value.kind is ErrorKind.CREDENTIALS
    assert raised.value.retry_after is not None
    assert raised.value.retry_after > 0
    assert not credentials.ok
    assert credentials.error is not None
    assert "metadata service" in credentials.error
    assert metrics.credentials_ok.value() == 0
    assert metrics.credentials_refresh_failures.value(source="metadata") == 1
    # Within the backoff nothing is tried again: the same answer, no second failure.
    with capture_logs() as logs, pytest.raises(CredentialsUnavailable):
        await credentials.headers()
    assert logs == []
    assert metrics.credentials_refresh_failures.value(source="metadata") == 1


async def test_a_reload_swaps_the_source(
    tmp_path: Path, emu: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    metadata = speechkit(tmp_path, metadata_token=True, metadata_url=emu.url)
    credentials = Credentials(metadata, session)
    await credentials.headers()
    assert not credentials.reconfigure(metadata)
    assert credentials.reconfigure(key_config(tmp_path, emu))
    await credentials.headers()
    assert credentials.source == "authorized_key"
    assert emu.stats()["iam"]["tokens_issued"] == {"jwt": 1, "metadata": 1}


async def test_a_jwt_of_another_key_is_refused(
    tmp_path: Path, emu: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    other = EmulatorSettings(authorized_key_path=str(tmp_path / "other.json"))
    async with await start_emulator(other):
        text = (tmp_path / "other.json").read_text("utf-8")
    key = parse_authorized_key(text, "file other.json")
    source = AuthorizedKeySource(session, key, emu.url + "/iam/v1/tokens")
    with pytest.raises(CredentialsError, match="HTTP 401"):
        await source.fetch(time.time())
    assert emu.stats()["iam"]["tokens_issued"] == {}


async def test_the_metadata_service_wants_its_header(
    emu: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    async with session.get(emu.url + METADATA_TOKEN_PATH) as answer:
        assert answer.status == 403
    token = await MetadataSource(session, emu.url).fetch(time.time())
    assert token.expires_at - token.issued_at == pytest.approx(60.0, abs=1.0)
    assert "value" not in repr(token)
    assert token.value not in repr(token)


async def test_a_token_file_is_read_again_when_it_changes(
    tmp_path: Path, emu: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    path = tmp_path / "iam-token"
    path.write_text("t1.first-token-of-the-file\n", "utf-8")
    clock = Clock(time.time())
    credentials = Credentials(speechkit(tmp_path, iam_token_file=str(path)), session, clock=clock)
    assert (await credentials.headers())["Authorization"] == "Bearer t1.first-token-of-the-file"
    replaced = tmp_path / "new"
    replaced.write_text("t1.second-token-of-the-file", "utf-8")
    replaced.replace(path)
    clock.now += 1.5
    assert (await credentials.headers())["Authorization"] == "Bearer t1.second-token-of-the-file"
    # A 401 to the file's token, the file unchanged: nothing to send until it changes.
    with pytest.raises(CredentialsUnavailable, match="refused"):
        await credentials.refused({"Authorization": "Bearer t1.second-token-of-the-file"})
    assert not credentials.ok
    path.write_text("t1.third-token-of-the-file", "utf-8")
    clock.now += 60.0
    assert (await credentials.headers())["Authorization"] == "Bearer t1.third-token-of-the-file"
    assert credentials.ok


def test_the_emulators_key_reads_as_yc_writes_it(tmp_path: Path) -> None:
    async def write() -> str:
        async with await start_emulator(EmulatorSettings(authorized_key_path=str(tmp_path / "k"))):
            return (tmp_path / "k").read_text("utf-8")

    text = asyncio.run(write())
    assert (tmp_path / "k").stat().st_mode & 0o077 == 0
    data = json.loads(text)
    assert data["private_key"].startswith("PLEASE DO NOT REMOVE THIS LINE!")
    key = parse_authorized_key(text, "file k")
    assert key.key_id == data["id"]
    assert key.service_account_id == data["service_account_id"]
    assert key.private_key.reveal().startswith("-----BEGIN PRIVATE KEY-----")
