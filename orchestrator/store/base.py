"""The store's interface: what the pipeline and the commands may ask of any implementation.

SQLite implements it today; a PostgreSQL implementation (leases with FOR UPDATE SKIP
LOCKED, a shared ledger) can fill the same interface, so nothing here assumes SQLite.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from orchestrator.core.jobs import Job, ManifestStatus, State
from orchestrator.core.quota import QuotaSpec
from orchestrator.core.settings import RecognitionSettings


class StoreError(Exception):
    """The store could not do what was asked (corrupt file, newer schema, locked)."""


class DuplicateRecognition(StoreError):
    """Another job already leads the recognition of the same content with the same settings."""


class ManifestConflict(StoreError):
    """Another manifest with the same name is still active."""


@dataclass(frozen=True)
class NewJob:
    """A job to insert, as the manifest describes it."""

    source: str
    output: str
    settings: RecognitionSettings

    @property
    def priority(self) -> int:
        """Higher first among due jobs."""
        return self.settings.priority


@dataclass(frozen=True)
class Spend:
    """A quota a claim draws on: one request per job, or each job's ``amount`` (audio
    seconds) when given; a job whose amount is 0 is not charged."""

    quota: str
    spec: QuotaSpec
    amount: Callable[[Job], float] | None = None


@dataclass(frozen=True)
class Claim:
    """What a stage asks for: due jobs in ``states``, leased, with every quota in
    ``spends`` granted and spent and the jobs moved to ``enter`` in the same transaction,
    so that nothing happens between the ledger entry and the request it stands for."""

    states: tuple[State, ...]
    limit: int
    lease_s: float
    spends: tuple[Spend, ...] = ()
    enter: State | None = None
    # A job counter incremented for each job that enters ``enter`` ("submissions").
    count: str | None = None


@dataclass(frozen=True)
class Claimed:
    """The outcome of a claim."""

    jobs: list[Job]  # as they are now (moved to the claim's ``enter`` state)
    entered: frozenset[int]  # ids of the jobs that entered it now (others were in it)
    usage: Mapping[str, tuple[float, float]]  # (used, left) of each quota after the claim
    # The quotas that cut the claim short, each with the time it grants again.
    held: Mapping[str, float] = field(default_factory=dict)

    @property
    def wake_at(self) -> float | None:
        """When every quota that cut the claim short grants again."""
        return max(self.held.values()) if self.held else None


# Fields of a job that a stage may change; the store writes them in one row update.
JobUpdate = Mapping[str, Any]


class Store(Protocol):
    """What every state store offers. Each method is one atomic transaction."""

    async def add_manifest(
        self, name: str, path: str, digest: str, jobs: Sequence[NewJob], now: float
    ) -> tuple[int, bool]:
        """Insert a manifest and its jobs; (id, False) when the same file was already taken."""
        ...

    async def claim(self, claim: Claim, owner: str, now: float) -> Claimed:
        """Lease up to ``claim.limit`` due jobs, earliest due first within priority; grant
        and spend ``claim.spends`` and enter ``claim.enter``, all in one transaction."""
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

    async def next_due(self, states: Sequence[State], now: float) -> float | None:
        """When the earliest unleased job in ``states`` becomes due."""
        ...

    async def count(self, states: Sequence[State]) -> int:
        """Jobs in ``states``."""
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
        """A recognition already done: (operation id, response)."""
        ...

    async def put_result(
        self, content_hash: str, settings_key: str, operation_id: str, response: Any, now: float
    ) -> None:
        """Remember a finished recognition for reuse."""
        ...

    async def quota_spent(self, quota: str, since: float) -> list[float]:
        """Times of the requests spent against ``quota`` after ``since``, oldest first."""
        ...

    async def spend_quota(self, quota: str, times: Sequence[float]) -> None:
        """Record requests spent outside ``claim`` (e.g. fetches that count as checks)."""
        ...

    async def quota_amounts(self, quota: str, since: float) -> list[tuple[float, float]]:
        """``(time, amount)`` of what was spent against ``quota`` after ``since``."""
        ...

    async def spend_amount(self, quota: str, at: float, amount: float) -> None:
        """Record ``amount`` spent against a quota counted in amounts (audio seconds)."""
        ...

    async def prune_quota(self, quota: str, before: float) -> None:
        """Forget ``quota``'s ledger entries too old to matter."""
        ...

    async def pause_quota(self, quota: str, until: float) -> None:
        """Spend nothing on ``quota`` before ``until`` (a 429 was received)."""
        ...

    async def quota_paused_until(self, quota: str) -> float | None:
        """The pause deadline of ``quota``, if any."""
        ...

    async def manifests(self) -> list[ManifestStatus]:
        """Every manifest with its job counts."""
        ...

    async def manifest_jobs(self, manifest_id: int) -> list[Job]:
        """The jobs of one manifest."""
        ...

    async def manifests_to_finish(self) -> list[int]:
        """Active manifests whose jobs have all ended."""
        ...

    async def finish_manifest(
        self, manifest_id: int, report_path: str, path: str, now: float
    ) -> None:
        """Mark a manifest finished, with where its report and file went."""
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

    async def kv_get(self, key: str) -> str | None:
        """A small stored value."""
        ...

    async def kv_set(self, key: str, value: str) -> None:
        """Store a small value."""
        ...

    async def writable(self) -> bool:
        """True while a write transaction succeeds (for /healthz)."""
        ...

    async def close(self) -> None:
        """Release the store."""
        ...
