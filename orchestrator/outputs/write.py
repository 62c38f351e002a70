"""Writing one job's transcripts to disk, once: a restart never writes a finished set again.

The set is what the job's output options choose. Each file is replaced atomically and one
of them, the seal, goes last (the JSON when it is chosen), so each file is either absent,
the old version or the complete new one, whatever moment the process dies, and a set
whose seal is there is whole.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from orchestrator.core.output_options import OutputOptions
from orchestrator.core.transcript import Transcript
from orchestrator.outputs.files import write_atomic
from orchestrator.outputs.render import output_keys, render_all

_SAFE_NAME = re.compile(r"[A-Za-z0-9._-]+")


def checked_parts(manifest_name: str, relative: str) -> list[str]:
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


def seal_of(keys: Iterable[str]) -> str:
    """The output written last of a set, whose presence says the set is whole: the JSON
    when it is chosen, else the last key in order."""
    chosen = sorted(keys)
    return "json" if "json" in chosen else chosen[-1]


def write_order(keys: Iterable[str]) -> list[str]:
    """The order a set is written in: the seal last."""
    chosen = sorted(keys)
    seal = seal_of(chosen)
    return [key for key in chosen if key != seal] + [seal]


def object_keys(
    prefix: str,
    manifest_name: str,
    relative: str,
    channels: Sequence[int],
    *,
    timings: bool = True,
    options: OutputOptions | None = None,
) -> dict[str, str]:
    """Object keys of one job's outputs: ``<prefix><manifest>/<relative>.<key>``, the
    same names as ``output_paths`` gives on disk."""
    parts = checked_parts(manifest_name, relative)
    base = f"{prefix}{manifest_name}/{'/'.join(parts)}"
    return {key: f"{base}.{key}" for key in output_keys(channels, timings=timings, options=options)}


def output_paths(
    output_root: Path,
    manifest_name: str,
    relative: str,
    channels: Sequence[int],
    *,
    timings: bool = True,
    options: OutputOptions | None = None,
) -> dict[str, Path]:
    """Where one job's outputs go: ``<root>/<manifest>/<relative>.<key>`` for each key
    of ``render.output_keys``. Raises ``ValueError`` for a manifest name or relative path
    that could leave the root.
    """
    parts = checked_parts(manifest_name, relative)
    base = output_root / manifest_name
    target = base.joinpath(*parts)
    # A symlink inside the output tree could still point elsewhere: check the real path.
    if not target.resolve().is_relative_to(base.resolve()):
        raise ValueError(f"output path escapes the output directory: {relative!r}")
    return {
        key: target.with_name(f"{target.name}.{key}")
        for key in output_keys(channels, timings=timings, options=options)
    }


def write_outputs(paths: Mapping[str, Path], rendered: Mapping[str, str]) -> None:
    """Write every rendered output to its path (each atomically; the seal last).

    The seal goes last so that its presence means the whole set is on disk. Raises
    ``ValueError`` before writing anything if a path has no rendered content.
    """
    missing = sorted(set(paths) - set(rendered))
    if missing:
        raise ValueError(f"no rendered content for outputs: {', '.join(missing)}")
    for key in write_order(paths):
        write_atomic(paths[key], rendered[key])


def already_written(
    paths: Mapping[str, Path], rendered: Mapping[str, str], operation_id: str
) -> bool:
    """True when the set's seal (written last) is on disk for the same result: a JSON
    document of the same operation, or any other file with the very bytes it would get."""
    seal = seal_of(paths)
    if seal == "json":
        return _json_of_operation(paths[seal], operation_id)
    try:
        return paths[seal].read_bytes() == rendered[seal].encode("utf-8")
    except OSError:
        return False


def _json_of_operation(json_path: Path, operation_id: str) -> bool:
    """True when the JSON at ``json_path`` is that of ``operation_id``'s result."""
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
    options: OutputOptions | None = None,
) -> list[Path]:
    """Render and write the outputs ``options`` chooses for a job; [] when the same result
    is already on disk.

    ``timings`` False (the API gives none): no subtitles, no conversation. Raises
    ValueError for an output path that would leave ``output_root``.
    """
    paths = output_paths(
        output_root, manifest_name, relative, channels, timings=timings, options=options
    )
    rendered = render_all(
        transcript, job=record, channels=channels, timings=timings, options=options
    )
    if already_written(paths, rendered, str(record.get("operation_id", ""))):
        return []
    write_outputs(paths, rendered)
    return [paths[key] for key in write_order(paths)]
