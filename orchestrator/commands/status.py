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
from orchestrator.core.runs import run_labels
from orchestrator.service.liveness import daemons, waiting_in_inbox
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
        help="with --watch: how often to look (default: 1 s; off a terminal, a manifest's "
        "line at most every 10 s, its end at once)",
    )
    parser.set_defaults(handler=run)


def render(snap: dict[str, Any], now: float | None = None) -> str:
    """The snapshot as a table for a terminal (``now``: for when hooks try again)."""
    rows = snap["manifests"]
    head = [*daemon_lines(snap.get("daemons")), *inbox_lines(snap.get("inbox"))]
    if not rows:
        return "\n".join([*head, "no manifests yet"]) + "\n"
    lines = [
        *head,
        f"{'MANIFEST':<28} {'STATE':<9} {'DONE':>9} {'FAILED':>6} {'ENDED':>7} {'ETA':>7}  STATES",
    ]
    # Runs of one name (a folder manifest submitted again) are told apart as NAME#RUN,
    # as `retry` and `cancel` take them.
    label_of = run_labels((m["id"], m["name"]) for m in rows)
    for m in rows:
        done = m["counts"].get("done", 0)
        # Failed and cancelled apart from done: "ENDED 100%" alone reads as all went well.
        failed = m["counts"].get("failed", 0) + m["counts"].get("cancelled", 0)
        states = ", ".join(f"{n} {s}" for s, n in m["counts"].items())
        state = "standing" if m.get("standing") and m["state"] == "active" else m["state"]
        label = label_of[m["id"]]
        lines.append(
            f"{label:<28} {state:<9} {done:>4}/{m['jobs']:<4} {failed:>6} "
            f"{m['progress'] * 100:>6.1f}% {duration(m['eta_s']):>7}  {states}"
        )
        for failure in m.get("failures", []):
            lines.append(f"    failed: {failure_line(failure['source'], failure['reason'])}")
        lines.extend(f"    hook: {hook_line(hook, now)}" for hook in m.get("hooks", []))
    return "\n".join(lines) + "\n"


def daemon_lines(daemons: list[dict[str, Any]] | None) -> list[str]:
    """A line per daemon that ran on the store: at work, stopped, or silent (down)."""
    if daemons is None:
        return []
    if not daemons:
        return ["daemon: none has run on this store yet; start one (`run`, or its service)"]
    lines = []
    for d in daemons:
        node = f" (node {d['node']})" if d["node"] else ""
        where = f"pid {d['pid']} on {d['host']}"
        ago = duration(d["seen_s_ago"])
        said = {
            "running": f"running, {where}",
            "stopped": f"stopped {ago} ago ({where}); nothing is being worked on",
            "silent": f"not heard of for {ago} ({where}): down? nothing is being worked on",
        }[d["state"]]
        lines.append(f"daemon{node}: {said}")
    return lines


def inbox_lines(inbox: dict[str, Any] | None) -> list[str]:
    """What waits in the inbox, not yet taken in by a daemon."""
    if inbox is None:
        return []
    waiting = inbox["waiting"]
    if waiting is None:
        return [f"inbox {inbox['path']}: cannot be read here"]
    if not waiting:
        return []
    names = ", ".join(waiting[:5]) + (f" and {len(waiting) - 5} more" if len(waiting) > 5 else "")
    return [f"inbox {inbox['path']}: {len(waiting)} manifest(s) not yet taken in: {names}"]


async def _snapshot(args: argparse.Namespace) -> dict[str, Any]:
    config = read_config(args, resolve_secrets=False, resolve_state=True)
    try:
        store = await open_store(config)
    except StoreError as exc:
        raise UserInputError([Problem(config.source, str(exc), field="state")]) from None
    try:
        now = time.time()
        snap = await snapshot(store, now)
        snap["daemons"] = await daemons(store, now)
    finally:
        await store.close()
    inbox = config.paths.inbox
    snap["inbox"] = {"path": str(inbox), "waiting": waiting_in_inbox(inbox)}
    return snap


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
