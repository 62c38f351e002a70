"""A daemon's liveness as ``status`` reads it from the store (SQLite and PostgreSQL)."""

from __future__ import annotations

import os

from orchestrator.service.liveness import SILENT_AFTER_S, beat, daemons
from orchestrator.store import Store


async def test_a_daemon_is_running_silent_or_stopped(store: Store) -> None:
    assert await daemons(store, 0.0) == []
    await beat(store, "a", 100.0)
    await beat(store, "b", 100.0)
    await store.kv_set("daemon.seen.c", "not what a daemon writes")
    await beat(store, "b", 200.0, stopped=True)
    now = 100.0 + SILENT_AFTER_S
    found = {d["node"]: d for d in await daemons(store, now)}
    assert set(found) == {"a", "b"}
    assert found["a"]["state"] == "running"
    assert found["a"]["pid"] == os.getpid()
    assert found["b"]["state"] == "stopped"
    later = {d["node"]: d["state"] for d in await daemons(store, now + 1.0)}
    assert later == {"a": "silent", "b": "stopped"}
