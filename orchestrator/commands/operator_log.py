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
from orchestrator.core.runs import parse_run
from orchestrator.store import Store, StoreError, open_store
from orchestrator.telemetry import logs

Action = Callable[[Store, str, float], Awaitable[int]]


async def _jobs_of(store: Store, ref: str) -> tuple[int | None, str, dict[int, Job]]:
    """The id of the manifest ``ref`` names (``NAME``: its newest run, or ``NAME#RUN``),
    which run that is when there are several, and its jobs by id (None, "", {}: no such
    manifest or run; the action then says so)."""
    name, run = parse_run(ref)
    ids = sorted(m.id for m in await store.manifests() if m.name == name)
    if run is not None and not ids:
        name, run, ids = ref, None, sorted(m.id for m in await store.manifests() if m.name == ref)
    if not ids or (run is not None and run > len(ids)):
        return None, "", {}
    chosen = ids[-1] if run is None else ids[run - 1]
    note = f" (the newest of {len(ids)} runs: {name}#{len(ids)})" if run is None else ""
    note = note if len(ids) > 1 else ""
    return chosen, note, {job.id: job for job in await store.manifest_jobs(chosen)}


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


def change_and_log(args: argparse.Namespace, action: Action, event: str) -> tuple[int, str]:
    """Run ``action(store, ref, now)`` on the manifest ``args.manifest`` names and log
    what moved (see the module); how many jobs it changed, and which run it was when the
    name alone chose the newest of several (else "")."""

    async def go() -> tuple[int, str]:
        config = read_config(args, resolve_secrets=False, resolve_state=True)
        logs.configure(config.logging.level, config.logging.format, stream=sys.stderr)
        try:
            store = await open_store(config)
        except StoreError as exc:
            raise UserInputError([Problem(config.source, str(exc), field="state")]) from None
        try:
            manifest_id, note, before = await _jobs_of(store, args.manifest)
            changed = await action(store, args.manifest, time.time())
            after = await store.manifest_jobs(manifest_id) if manifest_id is not None else []
        except StoreError as exc:
            raise UserInputError([Problem(store.description, str(exc))]) from None
        finally:
            await store.close()
        log_moves(event, args.manifest, manifest_id, changed, before, after)
        return changed, note

    return asyncio.run(go())
