"""The store's interface, by role: what intake, the pipeline, the quota ledger, the operators'
commands and the daemon's life cycle may ask of any implementation. ``Store`` is all of
them; nothing outside ``store/`` knows which database answers.

Each method is one atomic transaction. What each one promises is written once, on the
implementation every database shares (``store.manager.SqlStore``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from orchestrator.core.hooks import DeliveryState, Hook, HookDelivery, OnFinish
from orchestrator.core.jobs import Job, ManifestStatus, State
from orchestrator.core.parts import Part
from orchestrator.core.quota import Pause
from orchestrator.store.types import Affinity, Claim, Claimed, JobUpdate, NewJob


class IntakeStore(Protocol):
    """Manifests coming in."""

    async def add_manifest(  # noqa: PLR0913 (as SqlStore.add_manifest)
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
    ) -> tuple[int, bool]: ...

    async def add_jobs(self, manifest_id: int, jobs: Iterable[NewJob], now: float) -> bool: ...

    async def files_taken(self, name: str) -> set[tuple[str, str, str]]: ...

    async def open_standing(self) -> list[ManifestStatus]: ...


class JobStore(Protocol):
    """The pipeline's jobs: claims under leases, one-row transitions, shared results."""

    async def claim(self, claim: Claim, owner: str, now: float) -> Claimed: ...

    async def renew_leases(self, owner: str, job_ids: Sequence[int], until: float) -> int: ...

    async def update_job(
        self,
        job_id: int,
        expect: State | None,
        fields: JobUpdate,
        now: float,
        *,
        keep_lease: bool = False,
    ) -> bool: ...

    async def get_job(self, job_id: int) -> Job | None: ...

    async def jobs_in(self, states: Sequence[State]) -> list[Job]: ...

    async def next_due(
        self,
        states: Sequence[State],
        now: float,
        apis: Sequence[str] | None = None,
        affinity: Affinity | None = None,
    ) -> float | None: ...

    async def count(self, states: Sequence[State]) -> int: ...

    async def any_in(self, states: Sequence[State]) -> bool: ...

    async def find_leader(self, job: Job, content_hash: str) -> Job | None: ...

    async def object_in_use(self, object_key: str, job_id: int) -> bool: ...

    async def content_in_use(self, content_hash: str) -> bool: ...

    async def release_followers(self, leader_id: int, to: State, now: float) -> int: ...

    async def get_result(self, content_hash: str, settings_key: str) -> tuple[str, Any] | None: ...

    async def add_parts(
        self, parent: Job, parts: Sequence[Part], now: float, move: JobUpdate | None = None
    ) -> bool: ...

    async def parts_of(self, parent_id: int) -> list[Job]: ...

    async def cancel_parts_of(self, parent_id: int, error: str, now: float) -> int: ...

    async def put_result(
        self, content_hash: str, settings_key: str, operation_id: str, payload: Any, now: float
    ) -> None: ...


class QuotaStore(Protocol):
    """The quota ledger (spent by claims) and the pauses after a 429."""

    async def quota_spent(self, quota: str, since: float) -> list[float]: ...

    async def quota_amounts(self, quota: str, since: float) -> list[tuple[float, float]]: ...

    async def prune_quota(self, quota: str, before: float) -> None: ...

    async def pause_quota(self, quota: str, change: Callable[[Pause | None], Pause]) -> Pause: ...

    async def quota_paused_until(self, quota: str) -> float | None: ...


class ManifestStore(Protocol):
    """Manifests as the reports and the operators' commands see them."""

    async def manifests(self) -> list[ManifestStatus]: ...

    async def manifest_jobs(self, manifest_id: int) -> list[Job]: ...

    async def manifest_jobs_page(
        self, manifest_id: int, after_id: int, limit: int
    ) -> list[Job]: ...

    async def manifest_parts(self, manifest_id: int) -> list[Job]: ...

    async def recent_failures(self, limit: int) -> list[Job]: ...

    async def manifests_to_finish(self, node: str | None = None) -> list[int]: ...

    async def finish_manifest(
        self,
        manifest_id: int,
        report_path: str,
        path: str,
        now: float,
        hooks: Sequence[Hook] = (),
    ) -> None: ...

    async def retry_manifest(self, name: str, now: float) -> int: ...

    async def cancel_manifest(self, name: str, now: float) -> int: ...

    async def close_standing(self, name: str) -> int: ...

    async def counts_by_state(self) -> dict[str, int]: ...


class HookStore(Protocol):
    """Completion hooks: a manifest's own, and the deliveries of finished manifests."""

    async def manifest_on_finish(self, manifest_id: int) -> OnFinish | None: ...

    async def pending_hooks(self, node: str | None = None) -> list[HookDelivery]: ...

    async def hook_deliveries(self) -> list[HookDelivery]: ...

    async def record_hook(
        self,
        delivery: int,
        state: DeliveryState,
        attempts: int,
        next_attempt_at: float,
        error: str | None,
        now: float,
    ) -> bool: ...

    async def cancel_hooks(self, manifest: str, now: float) -> int: ...


class StateStore(Protocol):
    """Small pieces of learned state (the polling estimator, per key)."""

    @property
    def shared(self) -> bool: ...

    async def kv_get(self, key: str) -> str | None: ...

    async def kv_set(self, key: str, value: str) -> None: ...

    async def kv_update(self, key: str, change: Callable[[str | None], str]) -> str: ...

    async def kv_prefix(self, prefix: str) -> dict[str, str]: ...


class Lifecycle(Protocol):
    """The daemon's hold on the store."""

    @property
    def description(self) -> str: ...

    async def acquire(self, node: str = "") -> None: ...

    async def watch(self, changed: Callable[[State], None]) -> None: ...

    async def recover(self, node: str, now: float) -> int: ...

    async def writable(self) -> bool: ...

    async def close(self) -> None: ...


class Store(
    IntakeStore, JobStore, QuotaStore, ManifestStore, HookStore, StateStore, Lifecycle, Protocol
):
    """Everything a state store offers."""
