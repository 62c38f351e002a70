"""The files a glob or a directory entry names: found without following links to other
directories, and within a bounded number of entries looked at.

``glob.glob`` follows links to directories while it recurses, so one link to ``..`` (or
to ``/``) inside the tree makes ``**`` run for hours; and nothing bounds how much of a
disk one entry may walk. Here a walk never follows a directory link, skips hidden names
(as ``glob`` does), goes no deeper than the pattern can match, and stops after
``MAX_VISITS`` entries with :class:`TooManyEntries`.
"""

from __future__ import annotations

import fnmatch
import glob
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

# Enough for a directory of 100,000 recordings and its neighbours; a glob of a whole disk
# stops here instead of holding intake for minutes.
MAX_VISITS = 1_000_000


class TooManyEntries(Exception):
    """A glob or a directory walk looked at more than ``MAX_VISITS`` entries."""


def split_glob(pattern: str, base_dir: Path) -> tuple[Path, list[str]]:
    """The glob's root (its leading parts without wildcards, against ``base_dir`` when
    relative) and the parts of the pattern below it."""
    path = Path(pattern).expanduser()
    parts = list(path.parts)
    root = Path(parts.pop(0)) if path.is_absolute() else base_dir
    while parts and not glob.has_magic(parts[0]):
        root = root / parts.pop(0)
    return Path(os.path.normpath(root)), parts


def _segment_matches(name: str, segment: str) -> bool:
    if name.startswith(".") and not segment.startswith("."):
        return False  # wildcards do not match hidden names, as in glob
    return fnmatch.fnmatchcase(name, segment)


def _matches(segments: Sequence[str], names: Sequence[str]) -> bool:
    """Whether a relative path (``names``) matches pattern ``segments`` (``**``: any depth)."""
    if not segments:
        return not names
    head, rest = segments[0], segments[1:]
    if head == "**":
        return any(_matches(rest, names[i:]) for i in range(len(names) + 1))
    return bool(names) and _segment_matches(names[0], head) and _matches(rest, names[1:])


def _may_descend(segments: Sequence[str], names: Sequence[str]) -> bool:
    """Whether a directory at relative path ``names`` may hold a match."""
    if "**" not in segments and len(names) >= len(segments):
        return False
    for depth, name in enumerate(names):
        if segments[depth] == "**":
            return not any(n.startswith(".") for n in names[depth:])
        if not _segment_matches(name, segments[depth]):
            return False
    return True


def _walk(root: Path, limit: int) -> Iterator[tuple[str, list[str], list[str]]]:
    """``os.walk`` of ``root`` (links to directories not followed), at most ``limit``
    entries seen (those it was told not to descend into count too)."""
    visits = 0
    for folder, dirnames, filenames in os.walk(root):
        visits += len(dirnames) + len(filenames)
        if visits > limit:
            raise TooManyEntries
        yield folder, dirnames, filenames


def glob_files(pattern: str, base_dir: Path, limit: int = MAX_VISITS) -> tuple[Path, list[Path]]:
    """The glob's root and the files (links to files included) matching ``pattern``."""
    root, segments = split_glob(pattern, base_dir)
    found: list[Path] = []
    if not segments or not os.path.isdir(root):
        return root, found
    for folder, dirnames, filenames in _walk(root, limit):
        inner = Path(folder).relative_to(root).parts
        dirnames[:] = sorted(d for d in dirnames if _may_descend(segments, (*inner, d)))
        for name in filenames:
            file = Path(folder) / name
            if _matches(segments, (*inner, name)) and file.is_file():
                found.append(file)
    return root, sorted(found)


def directory_files(
    directory: Path, patterns: Sequence[str], limit: int = MAX_VISITS
) -> list[tuple[Path, str]]:
    """Files under ``directory`` (hidden ones skipped) matching one of ``patterns`` (a name
    pattern, or one with ``/`` matched against the path inside the directory)."""
    found = []
    for folder, dirnames, filenames in _walk(directory, limit):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            file = Path(folder) / name
            inner = file.relative_to(directory).as_posix()
            if any(_name_matches(name, inner, p) for p in patterns):
                found.append((file, inner))
    return found


def _name_matches(name: str, inner: str, pattern: str) -> bool:
    """A name pattern (``*.mp3``) matches the file name; one with ``/`` the relative path."""
    if "/" in pattern:
        return fnmatch.fnmatchcase(inner, pattern)
    return fnmatch.fnmatchcase(name.lower(), pattern.lower())
