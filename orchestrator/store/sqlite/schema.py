"""The SQLite store's schema: named queries and migrations from ``sql/``, rows to jobs."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import aiosqlite

from orchestrator.core.audio import AudioFacts
from orchestrator.core.jobs import Job, State
from orchestrator.core.settings import RecognitionSettings

JOB_FIELDS = frozenset(
    {
        "state",
        "attempts",
        "next_action_at",
        "content_hash",
        "audio",
        "object_key",
        "operation_id",
        "submitted_at",
        "submissions",
        "polls",
        "last_poll_at",
        "leader_id",
        "error",
        "finished_at",
        "note",
    }
)


# Counters a claim may increment for the jobs entering its state.
COUNTERS = frozenset({"submissions", "attempts", "polls"})


_SQL = resources.files("orchestrator.store.sqlite").joinpath("sql")


def _load_queries() -> dict[str, str]:
    text = _SQL.joinpath("queries.sql").read_text("utf-8")
    queries: dict[str, str] = {}
    for block in re.split(r"^-- name: ", text, flags=re.M)[1:]:
        name, _, body = block.partition("\n")
        queries[name.strip()] = body.strip()
    return queries


def _migrations() -> list[tuple[int, str]]:
    found = []
    for entry in _SQL.iterdir():
        match = re.fullmatch(r"(\d{4})_[a-z0-9_]+\.sql", entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text("utf-8")))
    return sorted(found)


Q = _load_queries()
MIGRATIONS = _migrations()
SCHEMA_VERSION = MIGRATIONS[-1][0]


def row_to_job(row: aiosqlite.Row) -> Job:
    audio = row["audio"]
    return Job(
        id=row["id"],
        manifest_id=row["manifest_id"],
        manifest_name=row["manifest_name"],
        source=row["source"],
        output=row["output"],
        settings=RecognitionSettings.from_dict(json.loads(row["settings"])),
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
        error=row["error"],
        finished_at=row["finished_at"],
        note=row["note"],
    )


def to_column(value: Any) -> Any:
    if isinstance(value, State):
        return value.value
    if isinstance(value, AudioFacts):
        return value.to_json()
    return value
