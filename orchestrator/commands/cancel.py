"""``cancel MANIFEST``: stop working on a manifest's jobs that have not ended."""

from __future__ import annotations

import argparse

from orchestrator.commands.common import add_manifest_change


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``cancel`` subcommand: the jobs are cancelled; `retry` brings them back."""
    add_manifest_change(
        sub,
        "cancel",
        "cancel every job of a manifest that has not ended",
        lambda store, name, now: store.cancel_manifest(name, now),
        "cancelled",
    )
