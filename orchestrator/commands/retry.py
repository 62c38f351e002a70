"""``retry MANIFEST``: queue the failed (and cancelled) jobs of a manifest again."""

from __future__ import annotations

import argparse

from orchestrator.commands.common import add_config_argument
from orchestrator.commands.operator_log import change_and_log


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``retry`` subcommand: the jobs are queued again; the daemon picks them up."""
    parser = sub.add_parser("retry", help="queue the failed jobs of a manifest again")
    add_config_argument(parser)
    parser.add_argument(
        "manifest",
        metavar="MANIFEST",
        help="the manifest's name (its newest run), or NAME#RUN for another run",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Queue the jobs again, logging ``manifest.retried`` and each job moved."""
    count, note = change_and_log(
        args, lambda store, name, now: store.retry_manifest(name, now), "manifest.retried"
    )
    print(f"{args.manifest}: {count} job(s) queued again{note}")
    return 0
