"""The state store's logic and contract, written once over a ``Connector`` (SQLite or
PostgreSQL): each method is one atomic transaction, and its docstring is the contract
every caller (through ``store.protocol.Store``) may rely on."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import aclosing
from typing import Any

from orchestrator.core import jsontext
from orchestrator.core.hooks import DeliveryState, Hook, HookDelivery, OnFinish
from orchestrator.core.jobs import Job, ManifestStatus, State
from orchestrator.core.parts import Part
from orchestrator.core.quota import Pause
from orchestrator.core.refs import is_object_uri
from orchestrator.core.runs import parse_run
from orchestrator.core.settings import RecognitionSettings
from orchestrator.store import claims
from orchestrator.store.batches import batches
from orchestrator.store.connector import Connector, Session
from orchestrator.store.rows import (
    JOB_FIELDS,
    PART_SEPARATOR,
    delivery_rows,
    on_finish_json,
    on_finish_of,
    options_json,
    redacted,
    row_to_delivery,
    row_to_job,
    row_to_manifest,
    settings_json,
    to_column,
)
from orchestrator.store.types import (
    Affinity,
    Claim,
    Claimed,
    DuplicateRecognition,
    JobUpdate,
    ManifestConflict,
    NewJob,
    StoreError,
)

# Daemons taking manifests of one name in, or changing one small value, take turns.
MANIFEST_LOCK = "speechkit-orchestrator manifest "
KV_LOCK = "speechkit-orchestrator kv "


def _states(states: Sequence[State]) -> list[str]:
    return [state.value for state in states]


class SqlStore:
    """The state store over one database's connector (``SQLiteStore``, ``PostgresStore``
    open one each)."""

    def __init__(self, db: Connector) -> None:
        self.db = db

    # --- intake -------------------------------------------------------------------------

    async def add_manifest(  # noqa: PLR0913 (the manifest's facts, then how it is taken)
        self,
        name: str,
        path: str,
        digest: str,
        jobs: Iterable[NewJob],
        now: float,
        node: str = "",
        on_finish: OnFinish | None = None,
        *,
        rerun: bool = False,
        standing: bool = False,
    ) -> tuple[int, bool]:
        """Insert a manifest taken in on ``node`` and its jobs (and its own completion
        hooks); (id, False) when the same file was already taken (by any daemon: two
        racing on one inbox take it once). With ``rerun``, the same file whose last run
        has finished is taken again as a new run (a row of its own, the same name and
        digest); one whose last run is still active is known. ``standing``: it takes new
        files until closed (never finished before). ``jobs`` may be a stream: it is
        consumed in batches within the transaction (each pulled in a worker thread while
        the one before is inserted: a manifest's expansion may walk a directory of
        100,000 files), and an exception it raises rolls the whole manifest back."""
        async with self.db.transaction() as tx:
            # Two daemons reading the same file from a shared inbox take turns here; the
            # second finds the first one's row by its digest.
            await self.db.lock(tx, MANIFEST_LOCK + name)
            known = await _known_run(tx, name, digest, rerun)
            if known is not None:
                return known, False
            await _check_name_free(tx, name, digest)
            values = {"name": name, "path": path, "digest": digest, "node": node, "now": now}
            inserted = await tx.fetch_one("insert_manifest", standing=int(standing), **values)
            assert inserted is not None
            manifest_id = int(inserted["id"])
            if on_finish is not None:
                await tx.execute(
                    "set_manifest_on_finish", id=manifest_id, on_finish=on_finish_json(on_finish)
                )
            await self._insert_jobs(tx, manifest_id, node, jobs, now)
            return manifest_id, True

    async def add_jobs(self, manifest_id: int, jobs: Iterable[NewJob], now: float) -> bool:
        """Add ``jobs`` to a standing manifest still open; False (nothing added) when it
        has been closed or has finished."""
        async with self.db.transaction() as tx:
            row = await tx.fetch_one("standing_manifest", id=manifest_id)
            if row is None:
                return False
            await self._insert_jobs(tx, manifest_id, row["node"], jobs, now)
            return True

    async def files_taken(self, name: str) -> set[tuple[str, str, str]]:
        """(source, stamp, settings key) of every local file the runs of the manifest
        ``name`` took."""
        rows = await self.db.fetch_all("files_taken", name=name)
        return {(r["source"], r["source_stamp"], r["settings_key"]) for r in rows}

    async def open_standing(self) -> list[ManifestStatus]:
        """The standing manifests still open (their jobs not counted)."""
        return [row_to_manifest(row) for row in await self.db.fetch_all("open_standing")]

    async def close_standing(self, name: str) -> int:
        """Close the standing manifest ``name``: it takes no new file and finishes once its
        jobs have ended; how many were closed (0: none open by that name)."""
        return await self.db.execute("close_standing", name=name)

    async def _insert_jobs(
        self, tx: Session, manifest_id: int, node: str, jobs: Iterable[NewJob], now: float
    ) -> None:
        """Insert ``jobs`` in batches; each settings' JSON and key are made once."""
        encoded: dict[RecognitionSettings, tuple[str, str]] = {}  # settings -> (json, key)
        async with aclosing(batches(jobs)) as stream:
            async for batch in stream:
                known = len(encoded)
                rows = [_job_row(job, encoded) for job in batch]
                if len(encoded) > known:
                    new = list(encoded)[known:]
                    await self.db.note_classes(tx, sorted({(s.priority, s.api) for s in new}))
                await tx.execute_many(
                    "insert_jobs", rows, manifest_id=manifest_id, node=node, now=now
                )

    # --- jobs ---------------------------------------------------------------------------

    async def claim(self, claim: Claim, owner: str, now: float) -> Claimed:
        """Lease up to ``claim.limit`` due jobs, earliest due first within priority; grant
        and spend ``claim.spends`` and enter ``claim.enter``, all in one transaction."""
        return await claims.claim(self.db, claim, owner, now)

    async def renew_leases(self, owner: str, job_ids: Sequence[int], until: float) -> int:
        """Extend ``owner``'s leases on ``job_ids`` to ``until`` (a heartbeat while their
        steps run); how many it still held."""
        if not job_ids:
            return 0
        ids = [{"id": job_id} for job_id in job_ids]
        return await self.db.execute_many("renew_leases", ids, owner=owner, until=until)

    async def update_job(
        self,
        job_id: int,
        expect: State | None,
        fields: JobUpdate,
        now: float,
        *,
        keep_lease: bool = False,
    ) -> bool:
        """Change one job in one row update; False if its state had moved on.

        The lease is dropped unless ``keep_lease`` (the step goes on after the update).
        """
        sql, params = _job_update(job_id, expect, fields, now, keep_lease)
        try:
            return await self.db.execute_sql(sql, params) == 1
        except self.db.errors as exc:
            if self.db.duplicate_leader(exc):
                raise DuplicateRecognition(str(exc)) from exc
            raise

    async def add_parts(
        self, parent: Job, parts: Sequence[Part], now: float, move: JobUpdate | None = None
    ) -> bool:
        """Create the part jobs of ``parent`` (queued, with its manifest, audio, output and
        settings), one per part index: a part it has already is not added again. With
        ``move``, the parent is changed as ``update_job`` would (expecting its state as
        given) in the same transaction; False, with nothing added, when it had moved on."""
        async with self.db.transaction() as tx:
            if move is not None:
                sql, params = _job_update(parent.id, parent.state, move, now, False)
                if await tx.execute_sql(sql, params) != 1:
                    return False
            for part in parts:
                await tx.execute(
                    "insert_part",
                    parent_id=parent.id,
                    part=part.to_json(),
                    suffix=f"{PART_SEPARATOR}{part.index}",
                    now=now,
                )
        return True

    async def parts_of(self, parent_id: int) -> list[Job]:
        """The part jobs of a job that was split, in the order of their parts."""
        rows = await self.db.fetch_all("parts_of", parent_id=parent_id)
        jobs = [row_to_job(row) for row in rows]
        return sorted(jobs, key=lambda job: job.part.index if job.part else 0)

    async def cancel_parts_of(self, parent_id: int, error: str, now: float) -> int:
        """End the part jobs of ``parent_id`` that have not ended as cancelled, with
        ``error``; how many there were."""
        return await self.db.execute("cancel_parts_of", parent_id=parent_id, error=error, now=now)

    async def get_job(self, job_id: int) -> Job | None:
        """One job by id."""
        row = await self.db.fetch_one("job_by_id", id=job_id)
        return row_to_job(row) if row else None

    async def jobs_in(self, states: Sequence[State]) -> list[Job]:
        """Every job in ``states``."""
        rows = await self.db.fetch_all("jobs_in_states", states=_states(states))
        return [row_to_job(row) for row in rows]

    async def next_due(
        self,
        states: Sequence[State],
        now: float,
        apis: Sequence[str] | None = None,
        affinity: Affinity | None = None,
    ) -> float | None:
        """When the earliest job in ``states`` (of ``apis``, that ``affinity`` lets this
        daemon take) becomes due: its own time, or, for a leased one, the end of its lease
        if that is later. (A store one daemon uses alone ignores ``affinity``.)"""
        return await self.db.next_due(states, now, apis, affinity)

    async def count(self, states: Sequence[State]) -> int:
        """Jobs in ``states``."""
        row = await self.db.fetch_one("count_states", states=_states(states))
        return int(row[0]) if row else 0

    async def any_in(self, states: Sequence[State]) -> bool:
        """True when some job is in one of ``states`` (cheap at any size)."""
        return await self.db.fetch_one("any_in_states", states=_states(states)) is not None

    async def find_leader(self, job: Job, content_hash: str) -> Job | None:
        """Another active job recognising the same content with the same settings."""
        row = await self.db.fetch_one(
            "find_leader", content_hash=content_hash, settings_key=job.settings_key, id=job.id
        )
        return row_to_job(row) if row else None

    async def object_in_use(self, object_key: str, job_id: int) -> bool:
        """True when another job still needs the stored object ``object_key``."""
        row = await self.db.fetch_one("object_in_use", object_key=object_key, id=job_id)
        return row is not None

    async def content_in_use(self, content_hash: str) -> bool:
        """True when a job not yet sent still needs the audio named ``content_hash``
        (a converted file waiting for its upload or its request)."""
        row = await self.db.fetch_one("content_in_use", content_hash=content_hash)
        return row is not None

    async def release_followers(self, leader_id: int, to: State, now: float) -> int:
        """Move the jobs waiting on ``leader_id`` to ``to``; how many moved."""
        return await self.db.execute(
            "release_followers", leader_id=leader_id, state=to.value, now=now
        )

    async def get_result(self, content_hash: str, settings_key: str) -> tuple[str, Any] | None:
        """A recognition already done: (operation id, cached payload)."""
        row = await self.db.fetch_one(
            "get_result", content_hash=content_hash, settings_key=settings_key
        )
        return (row["operation_id"], jsontext.loads(row["response"])) if row else None

    async def put_result(
        self, content_hash: str, settings_key: str, operation_id: str, payload: Any, now: float
    ) -> None:
        """Remember a finished recognition for reuse."""
        await self.db.execute(
            "put_result",
            content_hash=content_hash,
            settings_key=settings_key,
            operation_id=operation_id,
            response=jsontext.dumps(payload),
            now=now,
        )

    # --- quotas -------------------------------------------------------------------------

    async def quota_spent(self, quota: str, since: float) -> list[float]:
        """Times of the requests spent against ``quota`` after ``since``, oldest first."""
        rows = await self.db.fetch_all("quota_spent", quota=quota, since=since)
        return [float(row[0]) for row in rows]

    async def quota_amounts(self, quota: str, since: float) -> list[tuple[float, float]]:
        """``(time, amount)`` of what was spent against ``quota`` after ``since``."""
        rows = await self.db.fetch_all("quota_amounts", quota=quota, since=since)
        return [(float(row[0]), float(row[1])) for row in rows]

    async def prune_quota(self, quota: str, before: float) -> None:
        """Forget ``quota``'s ledger entries too old to matter."""
        await self.db.execute("prune_quota", quota=quota, before=before)

    async def pause_quota(self, quota: str, change: Callable[[Pause | None], Pause]) -> Pause:
        """A 429 was received: ``quota``'s pause (spend nothing before its ``until``)
        becomes ``change(current pause)``, in one transaction under the quota's lock (every
        claim reads the pause under it too), so that daemons sharing the quota count its
        429s in a row together; the new pause. A pause never shortens."""
        async with self.db.transaction() as tx:
            pause = change(await self.db.locked_pause(tx, quota))
            await tx.execute("set_pause", quota=quota, until=pause.until, strikes=pause.strikes)
        return pause

    async def quota_paused_until(self, quota: str) -> float | None:
        """The pause deadline of ``quota``, if any."""
        row = await self.db.fetch_one("get_pause", quota=quota)
        return None if row is None or row[0] is None else float(row[0])

    # --- manifests ----------------------------------------------------------------------

    async def manifests(self) -> list[ManifestStatus]:
        """Every manifest with its job counts."""
        found = {
            row["id"]: row_to_manifest(row) for row in await self.db.fetch_all("all_manifests")
        }
        for row in await self.db.fetch_all("manifest_counts"):
            status = found.get(row["manifest_id"])
            if status is not None:
                status.counts[row["state"]] = int(row["n"])
        # The part jobs of a split job are the pipeline's, not people's: not counted.
        for row in await self.db.fetch_all("part_counts"):
            status = found.get(row["manifest_id"])
            if status is not None:
                left = status.counts.get(row["state"], 0) - int(row["n"])
                if left > 0:
                    status.counts[row["state"]] = left
                else:
                    status.counts.pop(row["state"], None)
        return list(found.values())

    async def manifest_jobs(self, manifest_id: int) -> list[Job]:
        """The jobs of one manifest (a split job's part jobs are not among them)."""
        rows = await self.db.fetch_all("manifest_jobs", manifest_id=manifest_id)
        return [row_to_job(row) for row in rows]

    async def manifest_jobs_page(self, manifest_id: int, after_id: int, limit: int) -> list[Job]:
        """Up to ``limit`` of ``manifest_jobs``, those after job ``after_id`` in id order:
        a manifest of any size read a page at a time."""
        rows = await self.db.fetch_all(
            "manifest_jobs_page", manifest_id=manifest_id, after_id=after_id, limit=limit
        )
        return [row_to_job(row) for row in rows]

    async def manifest_parts(self, manifest_id: int) -> list[Job]:
        """The part jobs of one manifest's split jobs."""
        rows = await self.db.fetch_all("manifest_parts", manifest_id=manifest_id)
        return [row_to_job(row) for row in rows]

    async def recent_failures(self, limit: int) -> list[Job]:
        """The ``limit`` jobs that failed last, newest first (cheap at any size: an index
        of the failed jobs alone)."""
        return [row_to_job(row) for row in await self.db.fetch_all("recent_failures", limit=limit)]

    async def manifests_to_finish(self, node: str | None = None) -> list[int]:
        """Active manifests (taken in on ``node``, when given; a store one daemon uses
        alone has every one) whose jobs have all ended."""
        return [int(row[0]) for row in await self.db.fetch_all("manifests_to_finish", node=node)]

    async def finish_manifest(
        self,
        manifest_id: int,
        report_path: str,
        path: str,
        now: float,
        hooks: Sequence[Hook] = (),
    ) -> None:
        """Mark a manifest finished, with where its report and file went, and add a pending
        delivery for each of ``hooks`` in the same transaction."""
        async with self.db.transaction() as tx:
            await tx.execute(
                "finish_manifest", id=manifest_id, report_path=report_path, path=path, now=now
            )
            for row in delivery_rows(manifest_id, hooks, now):
                await tx.execute("insert_hook_delivery", **row)

    async def retry_manifest(self, name: str, now: float) -> int:
        """Queue the failed and cancelled jobs of the latest manifest ``name`` again."""
        async with self.db.transaction() as tx:
            manifest_id = await self._latest_manifest(tx, name)
            await _no_other_run_active(tx, name, manifest_id)
            # A split job's failed and cancelled parts go with it (its parts done are
            # kept); the count is of the manifest's own jobs.
            await tx.execute("retry_parts", manifest_id=manifest_id, now=now)
            changed = await tx.execute("retry_jobs", manifest_id=manifest_id, now=now)
            if changed:
                await tx.execute("reopen_manifest", id=manifest_id)
            return changed

    async def cancel_manifest(self, name: str, now: float) -> int:
        """Cancel every job of the latest manifest ``name`` that has not ended, split
        jobs' parts with them (the count is of the manifest's own jobs); a standing
        manifest is closed with them (it takes no new file)."""
        async with self.db.transaction() as tx:
            manifest_id = await self._latest_manifest(tx, name)
            await tx.execute("stop_standing", id=manifest_id)
            await tx.execute("cancel_parts", manifest_id=manifest_id, now=now)
            return await tx.execute("cancel_jobs", manifest_id=manifest_id, now=now)

    async def _latest_manifest(self, tx: Session, ref: str) -> int:
        """The manifest ``ref`` names: ``NAME`` (its newest run) or ``NAME#RUN``."""
        name, run = parse_run(ref)
        if run is not None:
            ids = [int(row["id"]) for row in await tx.fetch_all("manifest_runs_by_name", name=name)]
            if ids and run <= len(ids):
                return ids[run - 1]
            if ids:
                raise StoreError(f"manifest {name!r} has {len(ids)} run(s), not {run}")
            # No manifest NAME: perhaps one is called NAME#RUN itself.
        row = await tx.fetch_one("latest_manifest_by_name", name=ref)
        if row is None:
            raise StoreError(f"no manifest named {ref!r} in {self.db.description}")
        return int(row["id"])

    async def counts_by_state(self) -> dict[str, int]:
        """All jobs counted by state."""
        return {row[0]: int(row[1]) for row in await self.db.fetch_all("counts_by_state")}

    # --- hooks --------------------------------------------------------------------------

    async def manifest_on_finish(self, manifest_id: int) -> OnFinish | None:
        """The completion hooks the manifest asked for itself."""
        row = await self.db.fetch_one("manifest_on_finish", id=manifest_id)
        return None if row is None else on_finish_of(row[0])

    async def pending_hooks(self, node: str | None = None) -> list[HookDelivery]:
        """Deliveries still to make (of the manifests taken in on ``node``, when given; a
        store one daemon uses alone has every one), earliest due first."""
        rows = await self.db.fetch_all("pending_hook_deliveries", node=node)
        return [row_to_delivery(row) for row in rows]

    async def hook_deliveries(self) -> list[HookDelivery]:
        """Every delivery, by manifest (for ``status``)."""
        return [row_to_delivery(row) for row in await self.db.fetch_all("all_hook_deliveries")]

    async def record_hook(
        self,
        delivery: int,
        state: DeliveryState,
        attempts: int,
        next_attempt_at: float,
        error: str | None,
        now: float,
    ) -> bool:
        """The outcome of an attempt at a pending delivery (by row id); False when it was
        no longer pending."""
        changed = await self.db.execute(
            "record_hook_delivery",
            id=delivery,
            state=state,
            attempts=attempts,
            next_attempt_at=next_attempt_at,
            last_error=redacted(error),
            now=now,
        )
        return changed == 1

    async def cancel_hooks(self, manifest: str, now: float) -> int:
        """End the pending deliveries of the manifests named ``manifest`` as failed,
        "cancelled by the operator"; how many there were. An attempt in flight is not
        stopped, but its outcome is no longer recorded."""
        return await self.db.execute("cancel_hook_deliveries", name=manifest, now=now)

    # --- small state --------------------------------------------------------------------

    @property
    def shared(self) -> bool:
        """Whether other daemons may change this store's state while this one runs (what
        they learn is then worth reading back now and then)."""
        return self.db.shared

    async def kv_get(self, key: str) -> str | None:
        """A small stored value."""
        row = await self.db.fetch_one("kv_get", key=key)
        return str(row[0]) if row else None

    async def kv_set(self, key: str, value: str) -> None:
        """Store a small value."""
        await self.db.execute("kv_set", key=key, value=value)

    async def kv_update(self, key: str, change: Callable[[str | None], str]) -> str:
        """Replace the value of ``key`` with ``change(current)`` in one transaction, so
        that two daemons updating it merge instead of overwriting (they take turns on the
        key); the new value."""
        async with self.db.transaction() as tx:
            await self.db.lock(tx, KV_LOCK + key)
            row = await tx.fetch_one("kv_get", key=key)
            value = change(None if row is None else str(row[0]))
            await tx.execute("kv_set", key=key, value=value)
        return value

    async def kv_prefix(self, prefix: str) -> dict[str, str]:
        """Every stored value whose key starts with ``prefix``."""
        rows = await self.db.fetch_all("kv_prefix", prefix=prefix)
        return {str(row[0]): str(row[1]) for row in rows}

    # --- the daemon's hold --------------------------------------------------------------

    @property
    def description(self) -> str:
        """Where the store is, for logs (never a password)."""
        return self.db.description

    async def acquire(self, node: str = "") -> None:
        """Become a working daemon of ``node`` on this store; StoreLocked when another one
        holds it (SQLite: one daemon per file; PostgreSQL: one per node name, because a
        daemon's recovery releases every lease of its node)."""
        await self.db.acquire(node)

    async def watch(self, changed: Callable[[State], None]) -> None:
        """From now on, call ``changed(state)`` soon after any daemon moves a job into
        ``state`` or makes one due (so that the others' stages look at once); a store that
        one daemon uses alone never calls it."""
        await self.db.watch(changed)

    async def recover(self, node: str, now: float) -> int:
        """Release the leases no live daemon holds: those of this node's earlier runs (no
        other daemon of the node is alive: ``acquire`` holds it) and every expired one;
        how many were released."""
        return await self.db.execute("recover_leases", node=node, now=now)

    async def writable(self) -> bool:
        """True while a write transaction succeeds (for /healthz)."""
        try:
            await self.db.execute("kv_set", key="healthz", value="ok")
        except self.db.errors:
            return False
        return True

    async def close(self) -> None:
        """Release the store."""
        await self.db.close()


def _job_update(
    job_id: int, expect: State | None, fields: JobUpdate, now: float, keep_lease: bool
) -> tuple[str, dict[str, Any]]:
    """The statement and parameters of one job's row update (see ``update_job``)."""
    unknown = set(fields) - JOB_FIELDS
    if unknown:
        raise ValueError(f"not job fields: {sorted(unknown)}")
    params: dict[str, Any] = {key: to_column(value) for key, value in fields.items()}
    if "error" in params:
        params["error"] = redacted(params["error"])
    sets = [f"{key} = :{key}" for key in params]
    sets.append("updated_at = :_now")
    if not keep_lease:
        sets.append("lease_owner = NULL, lease_until = NULL")
    sql = f"UPDATE jobs SET {', '.join(sets)} WHERE id = :_id"
    params.update(_now=now, _id=job_id)
    if expect is not None:
        sql += " AND state = :_expect"
        params["_expect"] = expect.value
    return sql, params


def _job_row(job: NewJob, encoded: dict[RecognitionSettings, tuple[str, str]]) -> dict[str, Any]:
    """The columns of one new job (``local``: its audio is a path on its manifest's node);
    ``encoded`` keeps each settings' JSON and key, made once (hashed once per job)."""
    text_key = encoded.get(job.settings)
    if text_key is None:
        text_key = encoded[job.settings] = (settings_json(job.settings), job.settings.key())
    return {
        "source": job.source,
        "output": job.output,
        "settings": text_key[0],
        "settings_key": text_key[1],
        "api": job.settings.api,
        "priority": job.priority,
        "local": not is_object_uri(job.source),
        "output_options": options_json(job.options),
        "source_stamp": job.stamp,
    }


async def _known_run(tx: Session, name: str, digest: str, rerun: bool) -> int | None:
    """The id of the run of this file that taking it again would repeat: any run when
    not ``rerun``, the active one otherwise; None when a new run is to be made."""
    if not rerun:
        row = await tx.fetch_one("manifest_by_digest", digest=digest)
        return int(row["id"]) if row is not None and row["name"] == name else None
    row = await tx.fetch_one("latest_run", name=name, digest=digest)
    return int(row["id"]) if row is not None and row["state"] == "active" else None


async def _check_name_free(tx: Session, name: str, digest: str) -> None:
    """ManifestConflict when another file's manifest has ``name``: running, or finished
    (its results are under that name: a second run would overwrite them)."""
    if await tx.fetch_one("active_manifest_by_name", name=name) is not None:
        raise ManifestConflict(
            f"a manifest named {name!r} is still being processed; wait for it to "
            "finish, cancel it, or give the new manifest another name"
        )
    if await tx.fetch_one("finished_manifest_by_name", name=name, digest=digest) is not None:
        raise ManifestConflict(
            f"a manifest named {name!r} has run already, from another file, and its "
            f"results are under {name}/: give this one another name so that they are not "
            f"overwritten (`retry {name}` runs the first one's failed jobs again)"
        )


async def _no_other_run_active(tx: Session, ref: str, manifest_id: int) -> None:
    """StoreError when an older run is to be reopened while another run of its name is
    active (one run of a name is active at a time)."""
    for name in {parse_run(ref)[0], ref}:
        row = await tx.fetch_one("active_manifest_by_name", name=name)
        if row is not None and int(row["id"]) != manifest_id:
            raise StoreError(
                f"{ref}: another run of {name!r} is active; retry this one once it has finished"
            )
