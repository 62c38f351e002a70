"""A job row as the store would hand it over, for tests of what is made of jobs."""

from __future__ import annotations

import dataclasses
from typing import Any

from orchestrator.core.audio import AudioFacts
from orchestrator.core.jobs import Job, State
from orchestrator.core.settings import RecognitionSettings

MONO_OGG_60 = AudioFacts("OGG_OPUS", 60.0, 1, 48000, 0, 1000, "ogg_opus")


def make_job(
    index: int,
    state: State,
    *,
    api: str = "v2",
    manifest: str = "m",
    folder: str = "/audio",
    **fields: Any,
) -> Job:
    """Job ``index`` of manifest 1 (``manifest``), its audio ``<folder>/<index>.ogg`` (a
    minute of mono Ogg Opus unless ``audio=`` says otherwise), in ``state``; any other
    field of the job as given."""
    base = Job(
        id=index,
        manifest_id=1,
        manifest_name=manifest,
        source=f"{folder}/{index}.ogg",
        output=str(index),
        settings=dataclasses.replace(RecognitionSettings(), api=api),
        settings_key="k",
        priority=0,
        state=state,
        attempts=0,
        next_action_at=0.0,
        created_at=0.0,
        updated_at=0.0,
        audio=MONO_OGG_60,
    )
    return dataclasses.replace(base, **fields)


def submitted_job(
    state: State = State.RUNNING, *, submitted_at: float | None, **fields: Any
) -> Job:
    """Job 1 (its audio ``/a.ogg``, of unknown facts) submitted once as operation ``op1`` at
    ``submitted_at``, in ``state``; any other field of the job as given."""
    given: dict[str, Any] = {
        "source": "/a.ogg",
        "output": "a",
        "audio": None,
        "operation_id": "op1",
        "submissions": 1,
        "submitted_at": submitted_at,
        **fields,
    }
    return make_job(1, state, **given)
