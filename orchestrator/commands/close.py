"""``close MANIFEST``: a standing manifest (``watch: true``) takes no new file from now on,
and finishes, with its report, once the jobs it has have ended."""

from __future__ import annotations

import argparse
import sys

from orchestrator.commands.common import add_config_argument, change_manifest


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``close`` subcommand."""
    parser = sub.add_parser(
        "close",
        help="a standing manifest takes no new file, and finishes once its jobs have ended",
    )
    add_config_argument(parser)
    parser.add_argument("manifest", metavar="MANIFEST", help="the manifest's name")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Close the manifest; 1 when no standing manifest of that name is open."""
    closed = change_manifest(args, lambda store, name, _now: store.close_standing(name))
    if not closed:
        print(f"{args.manifest}: no standing manifest of this name is open", file=sys.stderr)
        return 1
    print(f"{args.manifest}: closed; it takes no new file and finishes once its jobs end")
    return 0
