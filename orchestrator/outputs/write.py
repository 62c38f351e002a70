"""Writing one job's transcripts to disk, once: a restart never writes a finished set again.

Each file is replaced atomically and the JSON goes last, so a result file is either absent,
the old version or the complete new one, whatever moment the process dies.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from orchestrator.core.transcript import Transcript
from orchestrator.outputs.files import write_atomic
from orchestrator.outputs.render import render_all, txt_keys

_SAFE_NAME = re.compile(r"[A-Za-z0-9._-]+")


def _checked_parts(manifest_name: str, relative: str) -> list[str]:
    """The parts of ``relative``; ValueError when it or the manifest name could leave the
    output root."""
    if not _SAFE_NAME.fullmatch(manifest_name) or manifest_name in {".", ".."}:
        raise ValueError(f"unsafe manifest name for an output directory: {manifest_name!r}")
    # Checked on the raw string: PurePosixPath would quietly drop "." and "//" parts.
    parts = relative.split("/")
    if (
        relative.startswith("/")
        or "\\" in relative
        or "\x00" in relative
        or any(p in {"", ".", ".."} for p in parts)
    ):
        raise ValueError(f"unsafe relative output path: {relative!r}")
    return parts


def output_names(channels: Sequence[int], *, timings: bool = True) -> list[str]:
    """The extensions of one job's outputs: ``json``, ``srt`` and ``vtt`` (with
    ``timings`` only: subtitles need times) and those of ``txt_keys(channels)``."""
    return ["json", *(["srt", "vtt"] if timings else []), *txt_keys(channels)]


def output_keys(
    prefix: str,
    manifest_name: str,
    relative: str,
    channels: Sequence[int],
    *,
    timings: bool = True,
) -> dict[str, str]:
    """Object keys of one job's outputs: ``<prefix><manifest>/<relative>.{json,...}``, the
    same names as ``output_paths`` gives on disk."""
    parts = _checked_parts(manifest_name, relative)
    base = f"{prefix}{manifest_name}/{'/'.join(parts)}"
    return {key: f"{base}.{key}" for key in output_names(channels, timings=timings)}


def output_paths(
    output_root: Path,
    manifest_name: str,
    relative: str,
    channels: Sequence[int],
    *,
    timings: bool = True,
) -> dict[str, Path]:
    """Where one job's outputs go: ``<root>/<manifest>/<relative>.{json,srt,vtt,txt}``
    (see ``output_names``). Raises ``ValueError`` for a manifest name or relative path
    that could leave the root.
    """
    parts = _checked_parts(manifest_name, relative)
    base = output_root / manifest_name
    target = base.joinpath(*parts)
    # A symlink inside the output tree could still point elsewhere: check the real path.
    if not target.resolve().is_relative_to(base.resolve()):
        raise ValueError(f"output path escapes the output directory: {relative!r}")
    return {
        key: target.with_name(f"{target.name}.{key}")
        for key in output_names(channels, timings=timings)
    }


def write_outputs(paths: Mapping[str, Path], rendered: Mapping[str, str]) -> None:
    """Write every rendered output to its path (each atomically; JSON last).

    The JSON goes last so that its presence means the whole set is on disk. Raises
    ``ValueError`` before writing anything if a path has no rendered content.
    """
    missing = sorted(set(paths) - set(rendered))
    if missing:
        raise ValueError(f"no rendered content for outputs: {', '.join(missing)}")
    for key in sorted(paths, key=lambda k: (k == "json", k)):
        write_atomic(paths[key], rendered[key])


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
    *,
    timings: bool = True,
) -> list[Path]:
    """Render and write every output of a job; [] when the same result is already on disk.

    ``timings`` False (the API gives none): JSON and text only. Raises ValueError for an
    output path that would leave ``output_root``.
    """
    paths = output_paths(output_root, manifest_name, relative, channels, timings=timings)
    if already_written(paths["json"], str(record.get("operation_id", ""))):
        return []
    rendered = render_all(transcript, job=record, channels=channels, timings=timings)
    write_outputs(paths, rendered)
    return list(paths.values())
