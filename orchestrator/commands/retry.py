"""``retry MANIFEST``: queue the failed (and cancelled) jobs of a manifest again."""

from __future__ import annotations

import argparse

from orchestrator.commands.common import add_config_argument, change_manifest


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``retry`` subcommand."""
    parser = sub.add_parser("retry", help="queue the failed jobs of a manifest again")
    add_config_argument(parser)
    parser.add_argument("manifest", metavar="MANIFEST", help="the manifest's name")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Queue the jobs again; the daemon picks them up."""
    count = change_manifest(args, lambda store, name, now: store.retry_manifest(name, now))
    print(f"{args.manifest}: {count} job(s) queued again")
    return 0
