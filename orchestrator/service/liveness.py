"""Whether a daemon is at work on a store, and what waits in the inbox, for ``status``:
each daemon writes when it was last alive into the store (its node's key), so that a
``status`` run by anyone who can read the store, SQLite or PostgreSQL, can tell a daemon
that stopped or died from one at work."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from orchestrator.intake.inbox import is_candidate
from orchestrator.store.protocol import Store

KEY_PREFIX = "daemon.seen."
# A daemon writes this often (its status loop's pace, at least); one silent for
# SILENT_AFTER_S is taken for dead (killed, its machine down, its store out of reach).
BEAT_S = 5.0
SILENT_AFTER_S = 6 * BEAT_S


async def beat(store: Store, node: str, now: float, *, stopped: bool = False) -> None:
    """Record that the daemon of ``node`` is alive at ``now`` (or stopped, at its end)."""
    value = {"at": now, "pid": os.getpid(), "host": socket.gethostname(), "stopped": stopped}
    await store.kv_set(KEY_PREFIX + node, json.dumps(value))


async def daemons(store: Store, now: float) -> list[dict[str, Any]]:
    """Every daemon that ever ran on the store: node, host, pid, ``state`` (``running``,
    ``stopped`` or ``silent``: not heard of for a while, killed or down) and seconds since."""
    found = []
    for key, text in sorted((await store.kv_prefix(KEY_PREFIX)).items()):
        try:
            value = json.loads(text)
            at = float(value["at"])
        except (ValueError, KeyError, TypeError):
            continue  # a value this version did not write: nothing to say about it
        state = "running"
        if value.get("stopped"):
            state = "stopped"
        elif now - at > SILENT_AFTER_S:
            state = "silent"
        found.append(
            {
                "node": key.removeprefix(KEY_PREFIX),
                "host": value.get("host"),
                "pid": value.get("pid"),
                "state": state,
                "seen_s_ago": round(max(0.0, now - at), 1),
            }
        )
    return found


def waiting_in_inbox(inbox: Path) -> list[str] | None:
    """The manifests in the inbox not yet taken in, by name (None: the inbox cannot be
    read by whoever asks, e.g. an operator outside its group)."""
    try:
        return sorted(entry.name for entry in inbox.iterdir() if is_candidate(entry))
    except FileNotFoundError:
        return []
    except OSError:
        return None
