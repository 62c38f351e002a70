"""``open_store(config)``: the state store the config names, ready for use."""

from __future__ import annotations

from orchestrator.config import Config
from orchestrator.store.protocol import Store
from orchestrator.store.sqlite import SQLiteStore


async def open_store(config: Config) -> Store:
    """Open (creating and migrating as needed) the store the config names: the PostgreSQL
    database of ``state.url``, else the SQLite file ``paths.state_file``."""
    state = config.state
    if state.url is not None:
        # Imported only here: asyncpg costs a SQLite user's every command a sixth of a second.
        from orchestrator.store.postgres import PostgresStore

        password = None if state.password is None else state.password.reveal()
        return await PostgresStore.open(state.url, password, state.migrate)
    return await SQLiteStore.open(config.paths.state_file)
