"""``status``, ``retry`` and ``cancel`` read and change the store beside a running daemon."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from orchestrator.commands.common import add_config_argument, duration, hook_line, read_config
from orchestrator.core.errors import Problem, UserInputError
from orchestrator.core.jobs import ManifestStatus, failure_line
from orchestrator.service.progress import snapshot
from orchestrator.store import StoreError, open_store


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``status`` subcommand."""
    parser = sub.add_parser(
        "status",
        help="per manifest: jobs by state, progress, ETA, failures with reasons",
    )
    add_config_argument(parser)
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    parser.add_argument(
        "--watch",
        action="store_true",
        help="keep showing the active manifests (a live view on a terminal, a line per change "
        "otherwise) until Ctrl-C",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="with --watch: how often to look (default: 1 on a terminal, 10 otherwise)",
    )
    parser.set_defaults(handler=run)


def render(snap: dict[str, Any], now: float | None = None) -> str:
    """The snapshot as a table for a terminal (``now``: for when hooks try again)."""
    rows = snap["manifests"]
    if not rows:
        return "no manifests yet\n"
    lines = [f"{'MANIFEST':<28} {'STATE':<9} {'DONE':>9} {'PROGRESS':>8} {'ETA':>7}  STATES"]
    for m in rows:
        done = m["counts"].get("done", 0)
        states = ", ".join(f"{n} {s}" for s, n in m["counts"].items())
        state = "standing" if m.get("standing") and m["state"] == "active" else m["state"]
        lines.append(
            f"{m['name']:<28} {state:<9} {done:>4}/{m['jobs']:<4} "
            f"{m['progress'] * 100:>7.1f}% {duration(m['eta_s']):>7}  {states}"
        )
        for failure in m.get("failures", []):
            lines.append(f"    failed: {failure_line(failure['source'], failure['reason'])}")
        lines.extend(f"    hook: {hook_line(hook, now)}" for hook in m.get("hooks", []))
    return "\n".join(lines) + "\n"


async def _snapshot(args: argparse.Namespace) -> dict[str, Any]:
    config = read_config(args, resolve_secrets=False, resolve_state=True)
    try:
        store = await open_store(config)
    except StoreError as exc:
        raise UserInputError([Problem(config.source, str(exc), field="state")]) from None
    try:
        return await snapshot(store, time.time())
    finally:
        await store.close()


async def _watch(args: argparse.Namespace) -> None:
    """Show the active manifests (and those that finish meanwhile) until interrupted."""
    # Imported here: the plain `status` needs none of it (rich, the pipeline's settings).
    from rich.console import Console

    from orchestrator.commands.watching import Frame, Watch
    from orchestrator.pipeline.settings import settings_from_config
    from orchestrator.service.watching import ProgressReader

    config = read_config(args, resolve_secrets=False, resolve_state=True)
    try:
        store = await open_store(config)
    except StoreError as exc:
        raise UserInputError([Problem(config.source, str(exc), field="state")]) from None
    settings = settings_from_config(config)
    started = time.time()

    def wanted(manifest: ManifestStatus) -> bool:
        return manifest.state == "active" or (manifest.finished_at or 0.0) >= started

    reader = ProgressReader(store, settings)

    async def look(now: float) -> Frame:
        return Frame(await reader.read(wanted, now))

    title = "speechkit-orchestrator: status --watch (Ctrl-C stops watching)"
    try:
        await Watch(Console(), title, args.interval).run(look)
    finally:
        await store.close()


def run(args: argparse.Namespace) -> int:
    """Print the status of every manifest (or keep showing it, with ``--watch``)."""
    if args.watch:
        try:
            asyncio.run(_watch(args))
        except KeyboardInterrupt:
            return 130
        return 0
    snap = asyncio.run(_snapshot(args))
    if args.json:
        print(json.dumps(snap, indent=2))
    else:
        print(render(snap, time.time()), end="")
    return 0
