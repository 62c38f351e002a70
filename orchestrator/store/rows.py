"""Rows to jobs (and hook deliveries) and back, the same for every database: which job
fields a stage may change, which counters a claim may bump, and how values are stored."""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Sequence
from typing import Any, Protocol

from orchestrator.core.audio import AudioFacts
from orchestrator.core.hooks import DELIVERY_STATES, DeliveryState, Hook, HookDelivery, OnFinish
from orchestrator.core.jobs import Job, ManifestStatus, State
from orchestrator.core.output_options import OutputOptions
from orchestrator.core.parts import Part
from orchestrator.core.settings import RecognitionSettings
from orchestrator.store.types import JobUpdate
from orchestrator.telemetry.logs import redact_text

# The job fields a stage may change: those of ``JobUpdate``.
JOB_FIELDS = frozenset(JobUpdate.__optional_keys__)

# A part job's output column: its parent's output, this control character (no output of
# a manifest may hold one, so it clashes with no job's) and the part's index; unique in the
# manifest like every job's, which makes one part per (parent, index) the table's rule. The
# job read back has its parent's output: a part writes none of its own.
PART_SEPARATOR = "\x1f"

# Counters a claim may increment for the jobs entering its state.
COUNTERS = frozenset({"submissions", "attempts", "polls"})


class Row(Protocol):
    """A database row read by column name (sqlite3's Row, asyncpg's Record)."""

    def __getitem__(self, key: str | int, /) -> Any: ...


@functools.lru_cache(maxsize=1024)
def settings_of(text: str) -> RecognitionSettings:
    """A job's settings from their JSON; the few distinct texts of a store are parsed once
    (reading a manifest of 100,000 jobs parses a handful, not 100,000)."""
    return RecognitionSettings.from_dict(json.loads(text))


def row_to_job(row: Row) -> Job:
    """A job from a row of ``jobs`` joined with its manifest's name."""
    audio = row["audio"]
    return Job(
        id=row["id"],
        manifest_id=row["manifest_id"],
        manifest_name=row["manifest_name"],
        source=row["source"],
        output=row["output"].partition(PART_SEPARATOR)[0],
        settings=settings_of(row["settings"]),
        settings_key=row["settings_key"],
        priority=row["priority"],
        state=State(row["state"]),
        attempts=row["attempts"],
        next_action_at=row["next_action_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        content_hash=row["content_hash"],
        audio=AudioFacts.from_json(audio) if audio else None,
        object_key=row["object_key"],
        operation_id=row["operation_id"],
        submitted_at=row["submitted_at"],
        submissions=row["submissions"],
        polls=row["polls"],
        last_poll_at=row["last_poll_at"],
        leader_id=row["leader_id"],
        error=redacted(row["error"]),
        finished_at=row["finished_at"],
        note=row["note"],
        output_options=OutputOptions.from_dict(
            json.loads(row["output_options"]) if row["output_options"] else None
        ),
        parent_id=row["parent_id"],
        part=Part.from_json(row["part"]) if row["part"] else None,
    )


def redacted(error: str | None) -> str | None:
    """An error as the store keeps and serves it: without the registered secrets and what
    looks like a credential (a hook's stderr, say, may quote the API key)."""
    return None if error is None else redact_text(error)


def to_column(value: Any) -> Any:
    """A job field's value as a column holds it."""
    if isinstance(value, State):
        return value.value
    if isinstance(value, AudioFacts):
        return value.to_json()
    return value


def settings_json(settings: RecognitionSettings) -> str:
    """The settings column of a new job."""
    return json.dumps(settings.to_dict(), sort_keys=True)


def row_to_manifest(row: Row) -> ManifestStatus:
    """A manifest's row as its status (counts are the caller's to add)."""
    return ManifestStatus(
        id=row["id"],
        name=row["name"],
        path=row["path"],
        state=row["state"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
        report_path=row["report_path"],
        digest=row["digest"],
        node=row["node"],
        standing=bool(row["standing"]),
    )


def row_to_delivery(row: Row) -> HookDelivery:
    """A hook delivery from its row (joined with its manifest's name and report path)."""
    hook = Hook.from_target(row["kind"], row["origin"], json.loads(row["target"]))
    return HookDelivery(
        id=int(row["id"]),
        delivery_id=row["delivery_id"],
        manifest_id=int(row["manifest_id"]),
        manifest=row["manifest_name"],
        hook=hook,
        state=_delivery_state(row["state"]),
        attempts=int(row["attempts"]),
        next_attempt_at=float(row["next_attempt_at"]),
        last_error=redacted(row["last_error"]),
        created_at=float(row["created_at"]),
        updated_at=float(row["updated_at"]),
        delivered_at=None if row["delivered_at"] is None else float(row["delivered_at"]),
        report_path=row["report_path"],
    )


def _delivery_state(value: str) -> DeliveryState:
    for state in DELIVERY_STATES:
        if state == value:
            return state
    raise ValueError(f"unknown delivery state {value!r}")


def delivery_rows(manifest_id: int, hooks: Sequence[Hook], now: float) -> list[dict[str, Any]]:
    """The rows of a finished manifest's hook deliveries, each with a new delivery id."""
    return [
        {
            "delivery_id": str(uuid.uuid4()),
            "manifest_id": manifest_id,
            "kind": hook.kind,
            "origin": hook.origin,
            "target": json.dumps(hook.target_dict()),
            "now": now,
        }
        for hook in hooks
    ]


def on_finish_json(on_finish: OnFinish | None) -> str | None:
    """A manifest's own hooks as stored."""
    return None if on_finish is None else json.dumps(on_finish.to_dict())


def on_finish_of(value: str | None) -> OnFinish | None:
    """The inverse of :func:`on_finish_json`."""
    return None if value is None else OnFinish.from_dict(json.loads(value))


def options_json(options: OutputOptions) -> str | None:
    """The output_options column of a new job: None for the defaults (most jobs), so that
    a backlog of 100,000 jobs pays nothing for them."""
    if options == OutputOptions():
        return None
    return json.dumps(options.to_dict(), sort_keys=True)
