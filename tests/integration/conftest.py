"""Fixtures for tests over the real SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchestrator.store.sqlite import SQLiteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    """A new state store in the test's own directory."""
    opened = await SQLiteStore.open(tmp_path / "state" / "s.sqlite3")
    yield opened
    await opened.close()
