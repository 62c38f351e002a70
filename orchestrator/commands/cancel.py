"""``cancel MANIFEST``: stop working on a manifest's jobs that have not ended."""

from __future__ import annotations

import argparse
import asyncio
import time

from orchestrator.commands.common import add_config_argument, read_config
from orchestrator.errors import Problem, UserInputError
from orchestrator.store import SQLiteStore, StoreError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``cancel`` subcommand."""
    parser = sub.add_parser("cancel", help="cancel every job of a manifest that has not ended")
    add_config_argument(parser)
    parser.add_argument("manifest", metavar="MANIFEST", help="the manifest's name")
    parser.set_defaults(handler=run)


async def _cancel(args: argparse.Namespace) -> int:
    config = read_config(args, resolve_secrets=False)
    store = await SQLiteStore.open(config.paths.state_file)
    try:
        return await store.cancel_manifest(args.manifest, time.time())
    except StoreError as exc:
        raise UserInputError([Problem(str(config.paths.state_file), str(exc))]) from None
    finally:
        await store.close()


def run(args: argparse.Namespace) -> int:
    """Cancel the jobs; `retry` brings them back."""
    count = asyncio.run(_cancel(args))
    print(f"{args.manifest}: {count} job(s) cancelled")
    return 0
