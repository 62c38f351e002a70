"""``cancel MANIFEST``: stop working on a manifest's jobs that have not ended."""

from __future__ import annotations

import argparse

from orchestrator.commands.common import add_config_argument, change_manifest


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``cancel`` subcommand."""
    parser = sub.add_parser("cancel", help="cancel every job of a manifest that has not ended")
    add_config_argument(parser)
    parser.add_argument("manifest", metavar="MANIFEST", help="the manifest's name")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Cancel the jobs; `retry` brings them back."""
    count = change_manifest(args, lambda store, name, now: store.cancel_manifest(name, now))
    print(f"{args.manifest}: {count} job(s) cancelled")
    return 0
