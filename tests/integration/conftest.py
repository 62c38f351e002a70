"""Fixtures for tests over the real stores: every store test runs against SQLite and
against PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from orchestrator.store import Store
from orchestrator.store.postgres import PostgresStore
from orchestrator.store.sqlite import SQLiteStore
from tests.support.pipeline import copy_files
from tests.support.postgres import PostgresServer

Opener = Callable[[], Awaitable[Store]]


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens the test's store (a new SQLite file, or a new PostgreSQL database); each call
    opens it again, as a restarted daemon or a second daemon would."""
    if request.param == "sqlite":
        path = tmp_path / "state" / "s.sqlite3"

        async def sqlite() -> Store:
            return await SQLiteStore.open(path)

        return sqlite
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.create_database()

    async def postgres() -> Store:
        return await PostgresStore.open(url, server.password)

    return postgres


@pytest.fixture
async def store(open_store: Opener) -> AsyncIterator[Store]:
    """A new state store of each kind."""
    opened = await open_store()
    yield opened
    await opened.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """One HTTP session per test, closed at the end."""
    async with aiohttp.ClientSession() as opened:
        yield opened


@pytest.fixture
def audio(tmp_path: Path) -> Path:
    """The pipeline tests' sample files (tests/support/pipeline.py's FILES) in ``tmp_path``."""
    return copy_files(tmp_path)
