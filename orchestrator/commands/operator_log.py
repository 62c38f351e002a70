"""``cancel`` and ``retry`` change the store directly (the daemon may not be running), so
they log what they did themselves, on stderr in the daemon's format: an event of their
own with the counts, and the daemon's ``job.state`` line for each job they moved."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable

from orchestrator.commands.common import read_config
from orchestrator.core.errors import Problem, UserInputError
from orchestrator.core.jobs import Job
from orchestrator.store import Store, StoreError, open_store
from orchestrator.telemetry import logs

Action = Callable[[Store, str, float], Awaitable[int]]


async def _jobs_of_latest(store: Store, name: str) -> tuple[int | None, dict[int, Job]]:
    """The latest manifest ``name``'s id and jobs by id (None, {}: no such manifest; the
    action then says so)."""
    ids = [m.id for m in await store.manifests() if m.name == name]
    if not ids:
        return None, {}
    return max(ids), {job.id: job for job in await store.manifest_jobs(max(ids))}


def log_moves(
    event: str,
    name: str,
    manifest_id: int | None,
    changed: int,
    before: dict[int, Job],
    after: list[Job],
) -> None:
    """``job.state`` per job whose state changed, then ``event`` with the counts."""
    log = logs.get_logger(manifest=name)
    moved: Counter[str] = Counter()
    for job in after:
        old = before.get(job.id)
        if old is None or old.state is job.state:
            continue
        moved[old.state.value] += 1
        log.info(
            "job.state",
            job_id=job.id,
            operation_id=old.operation_id,
            source=job.source,
            **{"from": old.state.value, "to": job.state.value},
            took_s=0.0,
        )
    log.info(event, manifest_id=manifest_id, jobs=changed, moved_from=dict(sorted(moved.items())))


def change_and_log(args: argparse.Namespace, action: Action, event: str) -> int:
    """Run ``action(store, name, now)`` on the latest manifest ``args.manifest`` and log
    what moved (see the module); how many jobs it changed."""

    async def go() -> int:
        config = read_config(args, resolve_secrets=False, resolve_state=True)
        logs.configure(config.logging.level, config.logging.format, stream=sys.stderr)
        try:
            store = await open_store(config)
        except StoreError as exc:
            raise UserInputError([Problem(config.source, str(exc), field="state")]) from None
        try:
            manifest_id, before = await _jobs_of_latest(store, args.manifest)
            changed = await action(store, args.manifest, time.time())
            after = await store.manifest_jobs(manifest_id) if manifest_id is not None else []
        except StoreError as exc:
            raise UserInputError([Problem(store.description, str(exc))]) from None
        finally:
            await store.close()
        log_moves(event, args.manifest, manifest_id, changed, before, after)
        return changed

    return asyncio.run(go())
