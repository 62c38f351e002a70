"""``migrate``: bring the state store's schema up to date, as a role that may change it
(a daemon with ``state.migrate: false`` never does)."""

from __future__ import annotations

import argparse
import asyncio

from orchestrator.commands.common import add_config_argument, read_config
from orchestrator.config import Config
from orchestrator.core.errors import Problem, UserInputError
from orchestrator.store import StoreError
from orchestrator.store.sqlite import SCHEMA_VERSION as SQLITE_VERSION
from orchestrator.store.sqlite import SQLiteStore


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``migrate`` subcommand."""
    parser = sub.add_parser(
        "migrate",
        help="bring the state store's schema up to date (as the database's owner)",
        description="Apply the state store's pending schema migrations with the config's "
        "state.url and password (a role that owns the database), whatever its "
        "state.migrate; the daemons' own role then needs to read and write rows only.",
    )
    add_config_argument(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Migrate; print the store and its schema version."""
    config = read_config(args, resolve_secrets=False, resolve_state=True)
    try:
        where, version = asyncio.run(_migrate(config))
    except StoreError as exc:
        raise UserInputError([Problem(config.source, str(exc), field="state")]) from None
    print(f"{where}: schema version {version}, up to date")
    return 0


async def _migrate(config: Config) -> tuple[str, int]:
    """Open the store with its migrations applied; what it is and its schema version."""
    if config.state.url is None:
        sqlite = await SQLiteStore.open(config.paths.state_file)
        await sqlite.close()
        return str(config.paths.state_file), SQLITE_VERSION
    # Imported only here: asyncpg costs a SQLite user's every command a sixth of a second.
    from orchestrator.store.postgres import SCHEMA_VERSION, PostgresStore

    password = None if config.state.password is None else config.state.password.reveal()
    store = await PostgresStore.open(config.state.url, password, migrate=True)
    try:
        return store.description, SCHEMA_VERSION
    finally:
        await store.close()
