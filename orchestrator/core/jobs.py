"""The job model and its state machine (pure: no I/O, no clock)."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any


class State(enum.StrEnum):
    """Where a job is. Each stage of the pipeline takes jobs in its own states."""

    QUEUED = "queued"  # known, not yet probed or uploaded
    WAITING = "waiting"  # the same audio and settings is being recognised by another job
    UPLOADING = "uploading"
    UPLOADED = "uploaded"
    SUBMITTING = "submitting"  # a submission may have reached the service
    RUNNING = "running"  # the service has an operation id for it
    FETCHING = "fetching"  # done on the server; result being fetched and written
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = frozenset({State.DONE, State.FAILED, State.CANCELLED})
ACTIVE = frozenset(set(State) - TERMINAL)

# Which states each stage takes. A job found in a "doing" state (uploading,
# submitting, fetching) after a crash is simply taken again by its stage.
UPLOAD_STATES = (State.QUEUED, State.UPLOADING)
SUBMIT_STATES = (State.UPLOADED, State.SUBMITTING)
POLL_STATES = (State.RUNNING,)
FETCH_STATES = (State.FETCHING,)

_ALLOWED: dict[State, frozenset[State]] = {
    State.QUEUED: frozenset({State.UPLOADING, State.WAITING, State.FETCHING, State.UPLOADED}),
    State.WAITING: frozenset({State.QUEUED, State.FETCHING}),
    State.UPLOADING: frozenset({State.UPLOADING, State.UPLOADED, State.QUEUED}),
    State.UPLOADED: frozenset({State.SUBMITTING}),
    State.SUBMITTING: frozenset({State.SUBMITTING, State.RUNNING, State.UPLOADED}),
    # An expired operation (404 after the results were dropped) goes back to be resubmitted.
    State.RUNNING: frozenset({State.RUNNING, State.FETCHING, State.UPLOADED, State.QUEUED}),
    State.FETCHING: frozenset({State.FETCHING, State.DONE, State.RUNNING, State.UPLOADED}),
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
class AudioFacts:
    """What the probe found, persisted so that a restart need not probe again."""

    encoding: str
    duration_s: float
    channels: int
    sample_rate: int
    data_offset: int
    data_length: int
    container: str

    def to_json(self) -> str:
        """Compact JSON for the store."""
        return json.dumps(self.__dict__, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> AudioFacts:
        """Inverse of to_json."""
        data = json.loads(text)
        return cls(**data)

    @property
    def audio_seconds_all_channels(self) -> float:
        """Processing time scales with the audio of every channel."""
        return self.duration_s * self.channels


@dataclass(frozen=True)
class Job:
    """One row of the jobs table."""

    id: int
    manifest_id: int
    manifest_name: str
    source: str
    output: str
    settings: dict[str, Any]
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

    @property
    def is_local(self) -> bool:
        """A local file (to probe and upload), not an object already in storage."""
        return not self.source.startswith("s3://")
