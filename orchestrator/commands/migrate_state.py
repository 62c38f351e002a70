"""``migrate-state``: copy a SQLite state file into the PostgreSQL database of the config."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from orchestrator.commands.common import add_config_argument, read_config
from orchestrator.core.errors import Problem, UserInputError
from orchestrator.store import StoreError
from orchestrator.store.migrate import copy_sqlite_to_postgres
from orchestrator.store.postgres.connector import describe


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``migrate-state`` subcommand."""
    parser = sub.add_parser(
        "migrate-state",
        help="copy a SQLite state file into the PostgreSQL store of the config",
        description="Copy every manifest, job, cached result, quota ledger entry and learned "
        "estimate of a SQLite state file into the (empty) PostgreSQL database named by the "
        "config's state.url. Stop the daemon that used the file first.",
    )
    add_config_argument(parser)
    parser.add_argument(
        "--from",
        dest="source",
        type=Path,
        default=None,
        help="the SQLite state file (default: the config's paths.state_file)",
    )
    parser.add_argument(
        "--node",
        default=None,
        help="the node its manifests belong to: the daemon whose disk holds their audio and "
        "results (default: the config's service.node)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Copy the file; print what was copied."""
    config = read_config(args, resolve_secrets=False, resolve_state=True)
    if config.state.url is None:
        raise UserInputError(
            [Problem(config.source, "no PostgreSQL database to copy into", field="state.url")]
        )
    source = args.source or config.paths.state_file
    node = args.node or config.service.node
    password = None if config.state.password is None else config.state.password.reveal()
    try:
        counts = asyncio.run(copy_sqlite_to_postgres(source, config.state.url, password, node))
    except StoreError as exc:
        raise UserInputError([Problem(str(source), str(exc))]) from None
    copied = ", ".join(f"{n} {table}" for table, n in counts.items())
    # The URL as logs show it: its query (options, key paths) is not printed.
    print(f"copied {source} into {describe(config.state.url)} (node {node}): {copied}")
    return 0
