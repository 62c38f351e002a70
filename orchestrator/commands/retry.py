"""``retry MANIFEST``: queue the failed (and cancelled) jobs of a manifest again."""

from __future__ import annotations

import argparse
import asyncio
import time

from orchestrator.commands.common import add_config_argument, read_config
from orchestrator.errors import Problem, UserInputError
from orchestrator.store import SQLiteStore, StoreError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``retry`` subcommand."""
    parser = sub.add_parser("retry", help="queue the failed jobs of a manifest again")
    add_config_argument(parser)
    parser.add_argument("manifest", metavar="MANIFEST", help="the manifest's name")
    parser.set_defaults(handler=run)


async def _retry(args: argparse.Namespace) -> int:
    config = read_config(args, resolve_secrets=False)
    store = await SQLiteStore.open(config.paths.state_file)
    try:
        return await store.retry_manifest(args.manifest, time.time())
    except StoreError as exc:
        raise UserInputError([Problem(str(config.paths.state_file), str(exc))]) from None
    finally:
        await store.close()


def run(args: argparse.Namespace) -> int:
    """Queue the jobs again; the daemon picks them up."""
    count = asyncio.run(_retry(args))
    print(f"{args.manifest}: {count} job(s) queued again")
    return 0
