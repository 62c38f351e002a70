"""``retry MANIFEST``: queue the failed (and cancelled) jobs of a manifest again."""

from __future__ import annotations

import argparse

from orchestrator.commands.common import add_manifest_change


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``retry`` subcommand: the jobs are queued again; the daemon picks them up."""
    add_manifest_change(
        sub,
        "retry",
        "queue the failed jobs of a manifest again",
        lambda store, name, now: store.retry_manifest(name, now),
        "queued again",
    )
