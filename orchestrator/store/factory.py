"""``open_store(config)``: the state store the config names, ready for use."""

from __future__ import annotations

from orchestrator.config import Config
from orchestrator.store.protocol import Store
from orchestrator.store.sqlite.store import SQLiteStore


async def open_store(config: Config) -> Store:
    """Open (creating and migrating as needed) the store named by ``config.paths.state_file``."""
    return await SQLiteStore.open(config.paths.state_file)
