"""The job model and its state machine (pure: no I/O, no clock)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from orchestrator.core.audio import AudioFacts
from orchestrator.core.output_options import OutputOptions
from orchestrator.core.parts import Part
from orchestrator.core.refs import is_object_uri
from orchestrator.core.settings import RecognitionSettings


class State(enum.StrEnum):
    """Where a job is. Each stage of the pipeline takes jobs in its own states."""

    QUEUED = "queued"  # known, not yet probed or uploaded
    WAITING = "waiting"  # the same audio and settings is being recognised by another job
    UPLOADING = "uploading"
    UPLOADED = "uploaded"
    SUBMITTING = "submitting"  # a submission may have reached the service
    RUNNING = "running"  # the service has an operation id for it
    FETCHING = "fetching"  # done on the server; result being fetched and written
    SPLIT = "split"  # cut into part jobs: waits for them (no stage takes it meanwhile)
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = frozenset({State.DONE, State.FAILED, State.CANCELLED})
ACTIVE = frozenset(set(State) - TERMINAL)

# "Doing" states: the step goes on after entering them, so the job keeps its lease.
DOING = frozenset({State.UPLOADING, State.SUBMITTING})
# Operations the service may be working on: what the in-flight cap counts.
IN_FLIGHT = (State.SUBMITTING, State.RUNNING)


class Stage(enum.StrEnum):
    """The pipeline's stages, each a coroutine taking jobs in its own states."""

    UPLOAD = "upload"
    SUBMIT = "submit"
    POLL = "poll"
    FETCH = "fetch"


# Which states each stage takes. A job found in a "doing" state (uploading,
# submitting, fetching) after a crash is simply taken again by its stage.
UPLOAD_STATES = (State.QUEUED, State.UPLOADING)
SUBMIT_STATES = (State.UPLOADED, State.SUBMITTING)
POLL_STATES = (State.RUNNING,)
FETCH_STATES = (State.FETCHING,)
STAGE_STATES: dict[Stage, tuple[State, ...]] = {
    Stage.UPLOAD: UPLOAD_STATES,
    Stage.SUBMIT: SUBMIT_STATES,
    Stage.POLL: POLL_STATES,
    Stage.FETCH: FETCH_STATES,
}
STAGE_OF: dict[State, Stage] = {
    state: stage for stage, states in STAGE_STATES.items() for state in states
}

_ALLOWED: dict[State, frozenset[State]] = {
    State.QUEUED: frozenset(
        {State.UPLOADING, State.WAITING, State.FETCHING, State.UPLOADED, State.SPLIT}
    ),
    State.WAITING: frozenset({State.QUEUED, State.FETCHING}),
    State.UPLOADING: frozenset({State.UPLOADING, State.UPLOADED, State.QUEUED, State.SPLIT}),
    State.UPLOADED: frozenset({State.SUBMITTING}),
    # A synchronous API answers the submission with the transcript: straight to fetching.
    State.SUBMITTING: frozenset({State.SUBMITTING, State.RUNNING, State.UPLOADED, State.FETCHING}),
    # An expired operation (404 after the results were dropped) goes back to be resubmitted.
    State.RUNNING: frozenset({State.RUNNING, State.FETCHING, State.UPLOADED, State.QUEUED}),
    State.FETCHING: frozenset({State.FETCHING, State.DONE, State.RUNNING, State.UPLOADED}),
    # Every part done: the whole job's outputs are stitched; a retry starts it again.
    State.SPLIT: frozenset({State.FETCHING, State.QUEUED}),
    State.DONE: frozenset(),
    State.FAILED: frozenset({State.QUEUED}),  # retry
    State.CANCELLED: frozenset({State.QUEUED}),  # retry
}


class InvalidTransition(ValueError):
    """A state change the state machine does not allow: a bug, never user input."""


def check_transition(current: State, new: State) -> None:
    """Raise InvalidTransition unless ``current -> new`` is allowed.

    Any active state may fail or be cancelled; terminal states only go back to queued.
    """
    if new in (State.FAILED, State.CANCELLED) and current in ACTIVE:
        return
    if new not in _ALLOWED[current]:
        raise InvalidTransition(f"job cannot go from {current} to {new}")


@dataclass(frozen=True)
class Job:
    """One row of the jobs table."""

    id: int
    manifest_id: int
    manifest_name: str
    source: str
    output: str
    settings: RecognitionSettings
    settings_key: str
    priority: int
    state: State
    attempts: int
    next_action_at: float
    created_at: float
    updated_at: float
    content_hash: str | None = None
    audio: AudioFacts | None = None
    object_key: str | None = None
    operation_id: str | None = None
    submitted_at: float | None = None
    polls: int = 0
    last_poll_at: float | None = None
    leader_id: int | None = None
    error: str | None = None
    finished_at: float | None = None
    submissions: int = 0
    note: str | None = None  # a remark on a job that did not fail ("no speech recognised")
    # What is written of the result: formats and channel names (never what is asked).
    output_options: OutputOptions = field(default_factory=OutputOptions)
    # A part job (``part`` set) recognises a part of its parent's audio (``parent_id``);
    # a job that was split (and any other) has no part.
    parent_id: int | None = None
    part: Part | None = None

    @property
    def is_local(self) -> bool:
        """A local file (to probe and upload), not an object already in storage."""
        return not is_object_uri(self.source)


@dataclass(frozen=True)
class ManifestStatus:
    """One manifest and its jobs counted by state."""

    id: int
    name: str
    path: str
    state: str
    created_at: float
    finished_at: float | None
    report_path: str | None
    counts: dict[str, int] = field(default_factory=dict)
    digest: str = ""  # sha256 of the manifest file's bytes
    node: str = ""  # the daemon's node that took it in ("" in a one-daemon store)
    standing: bool = False  # takes new files under its folders until it is closed

    @property
    def total(self) -> int:
        """Number of jobs."""
        return sum(self.counts.values())

    @property
    def ended(self) -> int:
        """Jobs that reached a terminal state."""
        return sum(self.counts.get(s.value, 0) for s in TERMINAL)

    @property
    def finished(self) -> bool:
        """Its jobs have all ended and its report is written."""
        return self.finished_at is not None

    @property
    def shown_state(self) -> str:
        """Its state as people see it: ``standing`` while it takes new files."""
        return "standing" if self.standing and self.state == "active" else self.state

    @property
    def any_failed(self) -> bool:
        """A job failed: the manifest's file goes to ``failed/``. Jobs the operator
        cancelled are no failure of the manifest's: with none failed, it goes to
        ``processed/`` (its report says what was cancelled)."""
        return bool(self.counts.get(State.FAILED.value, 0))


def reason_beside(source: str, reason: str | None) -> str:
    """A failure's reason shown beside its source: one that starts with the source (most
    do, to stand alone in a log line) does not say it twice."""
    return (reason or "").removeprefix(f"{source}: ")


def failure_line(source: str, reason: str | None) -> str:
    """``source: reason``, for a list of failures (see :func:`reason_beside`)."""
    return f"{source}: {reason_beside(source, reason)}"
