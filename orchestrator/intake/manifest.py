"""YAML job manifests -> job specs: the top level (name, base_dir, defaults, jobs).

A manifest is checked in two steps: :func:`load_manifest` reads the YAML and expands the
entries into jobs without opening any audio (every structural problem at once; one entry
is read by ``intake.entries``); ``intake.audiocheck`` then probes each local file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from orchestrator.config.yamlload import Reader, Section, compose_bytes, compose_file
from orchestrator.core.audio import AudioFacts
from orchestrator.core.errors import Problem, UserInputError
from orchestrator.core.settings import RecognitionSettings
from orchestrator.intake.audiocheck import check_audio
from orchestrator.intake.entries import EntryReader
from orchestrator.intake.jobspec import JobSpec, Manifest
from orchestrator.intake.roots import InputRoots
from orchestrator.intake.settings import SETTING_KEYS, read_settings

TOP_KEYS = ("name", "base_dir", "defaults", "jobs")

_NAME_RE = re.compile(r"^[A-Za-z0-9._-]+$")


def _name(r: Reader, top: Section) -> str:
    """The manifest's name (required, safe for file names and logs)."""
    if "name" not in top:
        r.problem(top.node, "name", "missing: the manifest's name, like calls-2024-05")
        return ""
    value = top.optional_string("name") or ""
    if value and (not _NAME_RE.match(value) or value in (".", "..") or len(value) > 100):
        r.problem(
            top.node_of("name"),
            "name",
            "must be 1-100 characters of A-Z, a-z, 0-9, '.', '_' and '-'",
        )
    return value


def _base_dir(r: Reader, top: Section, manifest_dir: Path) -> Path:
    """``base_dir:`` resolved (relative to the manifest's directory), or that directory."""
    raw = top.optional_string("base_dir")
    if raw is None:
        return manifest_dir
    node = top.node_of("base_dir")
    if "\0" in raw:
        r.problem(node, "base_dir", "contains a NUL byte")
        return manifest_dir
    candidate = Path(raw).expanduser()
    candidate = candidate if candidate.is_absolute() else manifest_dir / candidate
    try:
        is_dir = candidate.is_dir()
    except OSError as exc:  # a name too long, a loop of symlinks...
        r.problem(node, "base_dir", f"cannot use {raw}: {exc.strerror or exc}")
        return manifest_dir
    if not is_dir:
        r.problem(node, "base_dir", f"not a directory: {raw}")
        return manifest_dir
    return Path(os.path.normpath(candidate.absolute()))


def _read_manifest(
    path: Path, roots: InputRoots | None, data: bytes | None = None
) -> tuple[Manifest | None, list[Problem]]:
    """The manifest as far as it could be read (jobs of the valid entries) and every problem."""
    reader = Reader(str(path))
    root, problem = compose_file(path) if data is None else compose_bytes(data, str(path))
    if problem is not None:
        return None, [problem]
    if root is None or reader.is_null(root):
        return None, [Problem(str(path), "manifest is empty (needs name and jobs)")]
    top = reader.section(root, "", TOP_KEYS, nullable=False)
    if top.node is None:
        return None, reader.problems
    top.reject_unknown()
    name = _name(reader, top)
    entries = EntryReader(reader, _base_dir(reader, top, path.absolute().parent), roots)
    defaults_sec = top.section("defaults", SETTING_KEYS)
    defaults_sec.reject_unknown()
    defaults = read_settings(reader, defaults_sec, RecognitionSettings())
    jobs: list[JobSpec] = []
    jobs_node = top.node_of("jobs")
    if jobs_node is None or reader.is_null(jobs_node):
        reader.problem(jobs_node or top.node, "jobs", "missing: the list of audio to recognise")
    else:
        nodes = reader.sequence(jobs_node, "jobs")
        if nodes is not None and not nodes:
            reader.problem(jobs_node, "jobs", "is empty: give at least one entry")
        for index, entry in enumerate(nodes or []):
            jobs.extend(entries.entry(index, entry, defaults))
    return Manifest(name=name, path=path, jobs=tuple(jobs)), reader.problems


def _by_line(problems: list[Problem]) -> list[Problem]:
    # Sorted by line so the output reads top to bottom like the file.
    return sorted(problems, key=lambda p: p.line or 0)


def load_manifest(
    path: Path, roots: InputRoots | None = None, data: bytes | None = None
) -> Manifest:
    """Read a manifest and expand its entries; UserInputError lists every structural problem.

    Audio is not opened here (see ``intake.audiocheck``); relative audio paths resolve
    against ``base_dir:`` or else the manifest's own directory. With ``roots``, every local
    file must be one the daemon may read (see ``intake.roots``). ``data``: the file's
    bytes, when the caller has read them already.
    """
    manifest, problems = _read_manifest(path, roots, data)
    if problems or manifest is None:
        raise UserInputError(_by_line(problems))
    return manifest


def validate_manifest(
    path: Path, roots: InputRoots | None = None
) -> tuple[Manifest | None, dict[str, AudioFacts], list[Problem]]:
    """Load a manifest and check its audio; every problem found, never an exception.

    The manifest is None when its structure is invalid; the audio of its valid entries is
    checked all the same. With ``roots``, files outside them are refused, never opened.
    """
    try:
        manifest, problems = _read_manifest(path, roots)
    except Exception as exc:
        # A bug must not cost the user a traceback: the kind of error is enough to report.
        internal = f"internal error while reading the manifest ({type(exc).__name__})"
        return None, {}, [Problem(str(path), internal)]
    if manifest is None:
        return None, {}, problems
    # Audio is probed even when the structure has problems, so one run reports everything.
    infos, audio_found = check_audio(manifest)
    valid = manifest if not problems else None
    return valid, infos, _by_line(problems + audio_found)
