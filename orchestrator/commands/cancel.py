"""``cancel MANIFEST``: stop working on a manifest's jobs that have not ended (or, with
``--hooks``, stop delivering its completion hooks)."""

from __future__ import annotations

import argparse

from orchestrator.commands.common import add_config_argument, change_manifest
from orchestrator.commands.operator_log import change_and_log


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``cancel`` subcommand."""
    parser = sub.add_parser("cancel", help="cancel every job of a manifest that has not ended")
    add_config_argument(parser)
    parser.add_argument(
        "manifest",
        metavar="MANIFEST",
        help="the manifest's name (its newest run), or NAME#RUN for another run",
    )
    parser.add_argument(
        "--hooks",
        action="store_true",
        help="cancel the manifest's pending completion hook deliveries instead (they end "
        "as failed, 'cancelled by the operator'); its jobs are left as they are",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Cancel the jobs (`retry` brings them back), or the pending hook deliveries."""
    if args.hooks:
        count = change_manifest(args, lambda store, name, now: store.cancel_hooks(name, now))
        noun = "delivery" if count == 1 else "deliveries"
        print(f"{args.manifest}: {count} hook {noun} cancelled")
        return 0
    count, note = change_and_log(
        args, lambda store, name, now: store.cancel_manifest(name, now), "manifest.cancelled"
    )
    print(f"{args.manifest}: {count} job(s) cancelled{note}")
    return 0
