"""Fixtures for tests over the real SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from orchestrator.store.sqlite import SQLiteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    """A new state store in the test's own directory."""
    opened = await SQLiteStore.open(tmp_path / "state" / "s.sqlite3")
    yield opened
    await opened.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """One HTTP session per test, closed at the end."""
    async with aiohttp.ClientSession() as opened:
        yield opened
