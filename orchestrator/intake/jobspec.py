"""What a manifest expands to: one job spec per audio file, and the rules its output path
must follow (relative, inside the output directory, one job each)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from orchestrator.core.output_options import OutputOptions
from orchestrator.core.refs import is_object_uri
from orchestrator.core.settings import RecognitionSettings
from orchestrator.intake.on_finish import ManifestHooks

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE_RE = re.compile(r"^[A-Za-z]:")
_SEPARATORS_RE = re.compile(r"[/\\]")


@dataclass(frozen=True)
class Choices:
    """What a manifest section says of its jobs: how the service recognises them, and what
    is written of the result."""

    settings: RecognitionSettings = field(default_factory=RecognitionSettings)
    options: OutputOptions = field(default_factory=OutputOptions)


@dataclass(frozen=True)
class JobSpec:
    """One audio file to recognise and where its transcript goes."""

    source: str  # absolute local path, or "s3://bucket/key"
    output: str  # relative output path without extension; no "..", not absolute
    settings: RecognitionSettings
    line: int | None  # manifest line of the entry that produced it
    options: OutputOptions = field(default_factory=OutputOptions)
    entry: str = ""  # the key path of that entry (``jobs[3]``), which problems name

    @property
    def audio_field(self) -> str:
        """The field a problem with the job's audio names: ``jobs[3].audio``."""
        return f"{self.entry}.audio" if self.entry else "audio"

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
    on_finish: ManifestHooks | None = None  # its own completion hooks (intake.on_finish)


def safe_output_problem(output: str) -> str | None:
    """Why ``output`` is not a safe relative output path, or None when it is."""
    if "\0" in output:
        return "contains a NUL byte"
    if _CONTROL_RE.search(output):
        return "contains a control character"
    if output.startswith(("/", "\\")) or _DRIVE_RE.match(output):
        return "must be a relative path, not absolute"
    if ".." in _SEPARATORS_RE.split(output):
        return "must not contain '..' (it would escape the output directory)"
    if normal_output(output) == ".":
        return "must not be empty"
    return None


# These run once for each of a directory's 100,000 files: plain string work, giving what
# PurePosixPath would (checked against it in the tests).


def normal_output(output: str) -> str:
    """``./a//b/`` -> ``a/b`` (``.`` when nothing is left), as ``PurePosixPath`` gives."""
    if output.startswith("/"):
        return str(PurePosixPath(output))
    return "/".join(part for part in output.split("/") if part and part != ".") or "."


def strip_extension(rel: str) -> str:
    """``calls/a.ogg`` -> ``calls/a``: the output path a file gets by default (the path
    normalised, its last suffix dropped, as ``PurePosixPath.with_suffix("")``)."""
    normal = normal_output(rel)
    if normal.startswith("/"):
        path = PurePosixPath(normal)
        return str(path.with_suffix("")) if path.suffix else normal
    slash = normal.rfind("/")
    dot = normal.rfind(".")
    # A suffix is a dot inside the last name: neither its first nor its last character.
    if slash + 1 < dot < len(normal) - 1:
        return normal[:dot]
    return normal


def relative_to(path: Path, root: Path) -> str | None:
    """``path`` relative to ``root`` (POSIX form), or None when it is not inside."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return None
