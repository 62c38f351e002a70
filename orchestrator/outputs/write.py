"""Writing one job's transcripts to disk, once: a restart never writes a finished set again."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from orchestrator.core.transcript import Transcript
from orchestrator.outputs.render import output_paths, render_all, write_outputs


def already_written(json_path: Path, operation_id: str) -> bool:
    """True when the JSON (written last of the set) is there for the same operation."""
    try:
        existing = json.loads(json_path.read_text("utf-8"))
    except (OSError, ValueError):
        return False
    job = existing.get("job") if isinstance(existing, dict) else None
    return isinstance(job, dict) and job.get("operation_id") == operation_id


def write_job_outputs(
    output_root: Path,
    manifest_name: str,
    relative: str,
    transcript: Transcript,
    channels: Sequence[int],
    record: Mapping[str, Any],
) -> list[Path]:
    """Render and write every output of a job; [] when the same result is already on disk.

    Raises ValueError for an output path that would leave ``output_root``.
    """
    paths = output_paths(output_root, manifest_name, relative, channels)
    if already_written(paths["json"], str(record.get("operation_id", ""))):
        return []
    rendered = render_all(transcript, job=record, channels=channels)
    write_outputs(paths, rendered)
    return list(paths.values())
