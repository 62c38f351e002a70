"""``run``: the daemon."""

from __future__ import annotations

import argparse
import asyncio
import sys

from orchestrator.commands.common import add_config_argument, config_path, read_config
from orchestrator.service.daemon import Daemon, RunOptions
from orchestrator.service.hardening import forbid_dumping
from orchestrator.store import StoreError
from orchestrator.telemetry import logs


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``run`` subcommand."""
    parser = sub.add_parser(
        "run",
        help="run the daemon: take manifests from the inbox and transcribe them",
        description="Run the daemon until SIGTERM/SIGINT (or, with --until-idle, until every "
        "job has ended and the inbox is empty).",
    )
    add_config_argument(parser)
    parser.add_argument(
        "--until-idle",
        action="store_true",
        help="exit 0 once the inbox is empty and every job has ended (batch use, the demo)",
    )
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=1.0,
        help="a manifest is read once its size has not changed for this long (default 1)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Load the config, then run the daemon in one event loop."""
    # Before a secret is read: the hook commands it runs may not read its environment.
    forbid_dumping()
    config = read_config(args, quiet=True)  # the daemon logs the warnings
    logs.configure(config.logging.level, config.logging.format)
    daemon = Daemon(
        config,
        config_path(args),
        RunOptions(until_idle=args.until_idle, settle_s=args.settle_seconds),
    )
    try:
        return asyncio.run(daemon.run())
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
