"""What a manifest expands to: one job spec per audio file, and the rules its output path
must follow (relative, inside the output directory, one job each)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from orchestrator.core.refs import is_object_uri
from orchestrator.core.settings import RecognitionSettings

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class JobSpec:
    """One audio file to recognise and where its transcript goes."""

    source: str  # absolute local path, or "s3://bucket/key"
    output: str  # relative output path without extension; no "..", not absolute
    settings: RecognitionSettings
    line: int | None  # manifest line of the entry that produced it

    @property
    def is_s3(self) -> bool:
        """True when the audio is already in object storage."""
        return is_object_uri(self.source)


@dataclass(frozen=True)
class Manifest:
    """A validated manifest: its name, file and expanded jobs."""

    name: str  # safe: [A-Za-z0-9._-]+
    path: Path
    jobs: tuple[JobSpec, ...]


def safe_output_problem(output: str) -> str | None:
    """Why ``output`` is not a safe relative output path, or None when it is."""
    if "\0" in output:
        return "contains a NUL byte"
    if _CONTROL_RE.search(output):
        return "contains a control character"
    if output.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", output):
        return "must be a relative path, not absolute"
    if ".." in re.split(r"[/\\]", output):
        return "must not contain '..' (it would escape the output directory)"
    if str(PurePosixPath(output)) in ("", "."):
        return "must not be empty"
    return None


def normal_output(output: str) -> str:
    """``./a//b/`` -> ``a/b``."""
    return str(PurePosixPath(output))


def strip_extension(rel: str) -> str:
    """``calls/a.ogg`` -> ``calls/a``: the output path a file gets by default."""
    path = PurePosixPath(rel)
    return str(path.with_suffix("")) if path.suffix else str(path)


def relative_to(path: Path, root: Path) -> str | None:
    """``path`` relative to ``root`` (POSIX form), or None when it is not inside."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return None
