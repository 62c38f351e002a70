"""The store's interface, by role: what intake, the pipeline, the quota ledger, the operators'
commands and the daemon's life cycle may ask of any implementation. ``Store`` is all of
them; nothing outside ``store/`` knows which database answers.

Each method is one atomic transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from orchestrator.core.hooks import DeliveryState, Hook, HookDelivery, OnFinish
from orchestrator.core.jobs import Job, ManifestStatus, State
from orchestrator.core.quota import Pause
from orchestrator.store.types import Affinity, Claim, Claimed, JobUpdate, NewJob


class IntakeStore(Protocol):
    """Manifests coming in."""

    async def add_manifest(
        self,
        name: str,
        path: str,
        digest: str,
        jobs: Iterable[NewJob],
        now: float,
        node: str = "",
        on_finish: OnFinish | None = None,
    ) -> tuple[int, bool]:
        """Insert a manifest taken in on ``node`` and its jobs (and its own completion
        hooks); (id, False) when the same file was already taken (by any daemon: two
        racing on one inbox take it once). ``jobs`` may be a stream: it is consumed in
        batches within the transaction, and an exception it raises rolls the whole
        manifest back."""
        ...


class JobStore(Protocol):
    """The pipeline's jobs: claims under leases, one-row transitions, shared results."""

    async def claim(self, claim: Claim, owner: str, now: float) -> Claimed:
        """Lease up to ``claim.limit`` due jobs, earliest due first within priority; grant
        and spend ``claim.spends`` and enter ``claim.enter``, all in one transaction."""
        ...

    async def renew_leases(self, owner: str, job_ids: Sequence[int], until: float) -> int:
        """Extend ``owner``'s leases on ``job_ids`` to ``until`` (a heartbeat while their
        steps run); how many it still held."""
        ...

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
        ...

    async def get_job(self, job_id: int) -> Job | None:
        """One job by id."""
        ...

    async def jobs_in(self, states: Sequence[State]) -> list[Job]:
        """Every job in ``states``."""
        ...

    async def next_due(
        self,
        states: Sequence[State],
        now: float,
        apis: Sequence[str] | None = None,
        affinity: Affinity | None = None,
    ) -> float | None:
        """When the earliest job in ``states`` (of ``apis``, that ``affinity`` lets this
        daemon take) becomes due: its own time, or, for a leased one, the end of its lease
        if that is later."""
        ...

    async def count(self, states: Sequence[State]) -> int:
        """Jobs in ``states``."""
        ...

    async def any_in(self, states: Sequence[State]) -> bool:
        """True when some job is in one of ``states`` (cheap at any size)."""
        ...

    async def find_leader(self, job: Job, content_hash: str) -> Job | None:
        """Another active job recognising the same content with the same settings."""
        ...

    async def object_in_use(self, object_key: str, job_id: int) -> bool:
        """True when another job still needs the stored object ``object_key``."""
        ...

    async def release_followers(self, leader_id: int, to: State, now: float) -> int:
        """Move the jobs waiting on ``leader_id`` to ``to``; how many moved."""
        ...

    async def get_result(self, content_hash: str, settings_key: str) -> tuple[str, Any] | None:
        """A recognition already done: (operation id, cached payload)."""
        ...

    async def put_result(
        self, content_hash: str, settings_key: str, operation_id: str, payload: Any, now: float
    ) -> None:
        """Remember a finished recognition for reuse."""
        ...


class QuotaStore(Protocol):
    """The quota ledger (spent by claims) and the pauses after a 429."""

    async def quota_spent(self, quota: str, since: float) -> list[float]:
        """Times of the requests spent against ``quota`` after ``since``, oldest first."""
        ...

    async def quota_amounts(self, quota: str, since: float) -> list[tuple[float, float]]:
        """``(time, amount)`` of what was spent against ``quota`` after ``since``."""
        ...

    async def prune_quota(self, quota: str, before: float) -> None:
        """Forget ``quota``'s ledger entries too old to matter."""
        ...

    async def pause_quota(self, quota: str, change: Callable[[Pause | None], Pause]) -> Pause:
        """A 429 was received: ``quota``'s pause (spend nothing before its ``until``)
        becomes ``change(current pause)``, in one transaction, so that daemons sharing the
        quota count its 429s in a row together; the new pause."""
        ...

    async def quota_paused_until(self, quota: str) -> float | None:
        """The pause deadline of ``quota``, if any."""
        ...


class ManifestStore(Protocol):
    """Manifests as the reports and the operators' commands see them."""

    async def manifests(self) -> list[ManifestStatus]:
        """Every manifest with its job counts."""
        ...

    async def manifest_jobs(self, manifest_id: int) -> list[Job]:
        """The jobs of one manifest."""
        ...

    async def recent_failures(self, limit: int) -> list[Job]:
        """The ``limit`` jobs that failed last, newest first (cheap at any size: an index
        of the failed jobs alone)."""
        ...

    async def manifests_to_finish(self, node: str | None = None) -> list[int]:
        """Active manifests (taken in on ``node``, when given) whose jobs have all ended."""
        ...

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
        ...

    async def retry_manifest(self, name: str, now: float) -> int:
        """Queue the failed and cancelled jobs of the latest manifest ``name`` again."""
        ...

    async def cancel_manifest(self, name: str, now: float) -> int:
        """Cancel every job of the latest manifest ``name`` that has not ended."""
        ...

    async def counts_by_state(self) -> dict[str, int]:
        """All jobs counted by state."""
        ...


class HookStore(Protocol):
    """Completion hooks: a manifest's own, and the deliveries of finished manifests."""

    async def manifest_on_finish(self, manifest_id: int) -> OnFinish | None:
        """The completion hooks the manifest asked for itself."""
        ...

    async def pending_hooks(self, node: str | None = None) -> list[HookDelivery]:
        """Deliveries still to make (of the manifests taken in on ``node``, when given),
        earliest due first."""
        ...

    async def hook_deliveries(self) -> list[HookDelivery]:
        """Every delivery, by manifest (for ``status``)."""
        ...

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
        ...


class StateStore(Protocol):
    """Small pieces of learned state (the polling estimator, per key)."""

    @property
    def shared(self) -> bool:
        """Whether other daemons may change this store's state while this one runs (what
        they learn is then worth reading back now and then)."""
        ...

    async def kv_get(self, key: str) -> str | None:
        """A small stored value."""
        ...

    async def kv_set(self, key: str, value: str) -> None:
        """Store a small value."""
        ...

    async def kv_update(self, key: str, change: Callable[[str | None], str]) -> str:
        """Replace the value of ``key`` with ``change(current)`` in one transaction, so
        that two daemons updating it merge instead of overwriting; the new value."""
        ...

    async def kv_prefix(self, prefix: str) -> dict[str, str]:
        """Every stored value whose key starts with ``prefix``."""
        ...


class Lifecycle(Protocol):
    """The daemon's hold on the store."""

    @property
    def description(self) -> str:
        """Where the store is, for logs (never a password)."""
        ...

    async def acquire(self, node: str = "") -> None:
        """Become a working daemon of ``node`` on this store; StoreLocked when another one
        holds it (SQLite: one daemon per file; PostgreSQL: one per node name, because a
        daemon's recovery releases every lease of its node)."""
        ...

    async def watch(self, changed: Callable[[State], None]) -> None:
        """From now on, call ``changed(state)`` soon after any daemon moves a job into
        ``state`` or makes one due (so that the others' stages look at once); a store that
        one daemon uses alone never calls it."""
        ...

    async def recover(self, node: str, now: float) -> int:
        """Release the leases no live daemon holds: those of this node's earlier runs and
        every expired one; how many were released."""
        ...

    async def writable(self) -> bool:
        """True while a write transaction succeeds (for /healthz)."""
        ...

    async def close(self) -> None:
        """Release the store."""
        ...


class Store(
    IntakeStore, JobStore, QuotaStore, ManifestStore, HookStore, StateStore, Lifecycle, Protocol
):
    """Everything a state store offers."""
