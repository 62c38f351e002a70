"""What goes in and out of the store: errors, new jobs, claims and their outcome."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, TypedDict

from orchestrator.core.audio import AudioFacts
from orchestrator.core.jobs import Job, State
from orchestrator.core.output_options import OutputOptions
from orchestrator.core.quota import QuotaSpec
from orchestrator.core.settings import RecognitionSettings


class StoreError(Exception):
    """The store could not do what was asked (corrupt file, newer schema, locked)."""


class DuplicateRecognition(StoreError):
    """Another job already leads the recognition of the same content with the same settings."""


class ManifestConflict(StoreError):
    """Another manifest with the same name is still active."""


class StoreLocked(StoreError):
    """Another daemon already works on a store that allows only one."""


@dataclass(frozen=True)
class NewJob:
    """A job to insert, as the manifest describes it."""

    source: str
    output: str
    settings: RecognitionSettings
    # What is written of the result (not part of what the service is asked).
    options: OutputOptions = field(default_factory=OutputOptions)
    # A local file's "size:mtime_ns" when it was taken: what a later run of the manifest
    # compares to know whether it changed (None for an object in storage).
    stamp: str | None = None

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
class Affinity:
    """Which jobs a daemon of ``node`` may take when several share a store: with
    ``every_job`` False, a job whose audio is a local path only when its manifest was
    taken in on ``node`` (others can take objects already in storage); with ``every_job``,
    only the jobs of ``node``'s manifests (its results go to that node's disk).

    A store that allows one daemon only (SQLite) ignores it: every job is that daemon's.
    """

    node: str
    every_job: bool = False


@dataclass(frozen=True)
class Claim:
    """What a stage asks for: due jobs in ``states``, leased, with every quota in
    ``spends`` granted and spent and the jobs moved to ``enter`` in the same transaction,
    so that nothing happens between the ledger entry and the request it stands for."""

    states: tuple[State, ...]
    limit: int
    lease_s: float
    apis: tuple[str, ...] | None = None  # only jobs of these APIs (None: any)
    spends: tuple[Spend, ...] = ()
    enter: State | None = None
    # A job counter incremented for each job that enters ``enter`` ("submissions").
    count: str | None = None
    # The clock to read once the claim holds its locks: the time the quotas are spent at,
    # so that waiting for the locks does not put the requests after their ledger times.
    clock: Callable[[], float] | None = None
    affinity: Affinity | None = None  # None: any node's jobs
    # At most this many jobs of ``apis`` in ``enter`` at once, whoever claimed them (a
    # concurrency limit that holds across daemons sharing the store).
    cap: int | None = None


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


class JobUpdate(TypedDict, total=False):
    """The fields of a job a stage may change, each one given only when it changes (None
    writes NULL); the store writes them in one row update."""

    state: State
    attempts: int
    next_action_at: float
    content_hash: str | None
    audio: AudioFacts | None
    object_key: str | None
    operation_id: str | None
    submitted_at: float | None
    submissions: int
    polls: int
    last_poll_at: float | None
    leader_id: int | None
    error: str | None
    finished_at: float | None
    note: str | None


class Charge(NamedTuple):
    """One ledger row a claim writes: ``amount`` spent against ``quota`` at ``at``."""

    quota: str
    at: float
    amount: float
