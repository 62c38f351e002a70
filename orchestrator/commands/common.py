"""Helpers shared by the subcommands: the --config option and opening the store."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from orchestrator.config import Config, load_config
from orchestrator.core.errors import Problem, UserInputError
from orchestrator.store import Store, StoreError, open_store

DEFAULT_CONFIG_ENV = "SPEECHKIT_ORCHESTRATOR_CONFIG"
DEFAULT_CONFIG = Path("/etc/speechkit-orchestrator/config.yaml")


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """``--config FILE`` (default: $SPEECHKIT_ORCHESTRATOR_CONFIG or /etc/...)."""
    parser.add_argument(
        "--config",
        "-c",
        type=Path,
        default=None,
        help=f"the daemon's config file (default: ${DEFAULT_CONFIG_ENV} or {DEFAULT_CONFIG})",
    )


def config_path(args: argparse.Namespace) -> Path:
    """The config file the user meant."""
    if args.config is not None:
        return Path(args.config)
    env = os.environ.get(DEFAULT_CONFIG_ENV)
    return Path(env) if env else DEFAULT_CONFIG


def read_config(
    args: argparse.Namespace,
    *,
    resolve_secrets: bool = True,
    resolve_state: bool | None = None,
    quiet: bool = False,
) -> Config:
    """Load the config named on the command line (UserInputError on problems);
    ``resolve_state`` reads the state store's password even when ``resolve_secrets`` is
    False (for the commands that open the store and nothing else). Its warnings go to
    stderr unless ``quiet`` (the daemon logs them instead)."""
    path = config_path(args)
    if args.config is None and not path.exists():
        raise UserInputError([Problem(str(path), _no_config_hint())])
    config = load_config(path, resolve_secrets=resolve_secrets, resolve_state=resolve_state)
    if not quiet:
        print_warnings(config)
    return config


def _no_config_hint() -> str:
    """Why the default config file was looked for, and how to name another: a user who
    did not pass ``--config`` may not know it exists."""
    named = (
        f"named by ${DEFAULT_CONFIG_ENV}" if os.environ.get(DEFAULT_CONFIG_ENV) else "the default"
    )
    return (
        f"file not found ({named}); name the daemon's config with --config FILE "
        f"or the environment variable {DEFAULT_CONFIG_ENV}"
    )


def print_warnings(config: Config) -> None:
    """The config's warnings, one ``warning: FILE:LINE: field: message`` line each."""
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def change_manifest(
    args: argparse.Namespace, action: Callable[[Store, str, float], Awaitable[int]]
) -> int:
    """Run ``action(store, name, now)`` on the store the config names; how many jobs changed.

    Safe beside a running daemon: each change is one transaction, and the daemon reads
    every job's state from the store before it acts on it.
    """

    async def go() -> int:
        config = read_config(args, resolve_secrets=False, resolve_state=True)
        try:
            store = await open_store(config)
        except StoreError as exc:
            raise UserInputError([Problem(config.source, str(exc), field="state")]) from None
        try:
            return await action(store, args.manifest, time.time())
        except StoreError as exc:
            raise UserInputError([Problem(store.description, str(exc))]) from None
        finally:
            await store.close()

    return asyncio.run(go())


def add_manifests_arguments(parser: argparse.ArgumentParser, config_help: str) -> None:
    """The offline commands' arguments: ``MANIFEST...``, ``--config FILE`` (what it is
    used for: ``config_help``) and ``--json``."""
    parser.add_argument("manifests", nargs="+", type=Path, metavar="MANIFEST")
    parser.add_argument("--config", type=Path, help=config_help)
    parser.add_argument("--json", action="store_true", help="print one JSON document")


def duration(seconds: float | None) -> str:
    """``1h05m``, ``3m07s``, or ``-`` for none."""
    if seconds is None:
        return "-"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def hook_line(hook: dict[str, Any], now: float | None = None) -> str:
    """One completion hook's delivery: what, where, and how it went."""
    head = f"{hook['kind']} {hook['target']} ({hook['origin']}): {hook['state']}"
    tries = f"{hook['attempts']} attempt{'s' if hook['attempts'] != 1 else ''}"
    if hook["state"] == "delivered":
        return f"{head} after {tries}"
    if hook["state"] == "failed":
        return f"{head} after {tries}: {hook['last_error']}"
    detail = f"{tries}" + (f", last: {hook['last_error']}" if hook["last_error"] else "")
    if now is not None and hook.get("next_attempt_at") is not None:
        detail += f", next in {duration(max(0.0, hook['next_attempt_at'] - now))}"
    return f"{head} ({detail})"
