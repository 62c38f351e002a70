"""The files a glob or a directory entry names: found without following links to other
directories, and within a bounded number of entries looked at.

``glob.glob`` follows links to directories while it recurses, so one link to ``..`` (or
to ``/``) inside the tree makes ``**`` run for hours; and nothing bounds how much of a
disk one entry may walk. Here a walk never follows a directory link, skips hidden names
(as ``glob`` does), goes no deeper than the pattern can match, and stops after
``MAX_VISITS`` entries with :class:`TooManyEntries`. The files are yielded as they are
found, in a stable order: a directory of 100,000 recordings is never held as a list.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import NamedTuple

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


class Found(NamedTuple):
    """A file met in a walk: its path, its path inside the walk's root (``/``-separated),
    and whether it is a symbolic link (if not, its real path is the root's real path
    joined with ``inner``: no directory link is ever followed)."""

    path: str
    inner: str
    link: bool


# What a directory listing keeps of an entry: its sort key, its name, and these flags.
_DIR, _FILE, _LINK = 1, 2, 4


def _kind(entry: os.DirEntry[str]) -> int:
    """The entry's flags, as ``os.walk`` would judge it (a link counts as its target)."""
    try:
        kind = _DIR if entry.is_dir() else (_FILE if entry.is_file() else 0)
        return kind | (_LINK if entry.is_symlink() else 0)
    except OSError:
        return 0


def _sorted_walk(
    root: str, limit: int, descend: Callable[[tuple[str, ...]], bool], dir_suffix: str
) -> Iterator[tuple[tuple[str, ...], str, int]]:
    """Every entry under ``root`` but the directories: ``(inner parts, path, flags)``,
    depth first, each folder's entries sorted by name (a directory's by its name plus
    ``dir_suffix``), never into a link to a directory nor a directory ``descend`` refuses.
    At most ``limit`` entries are listed (those not descended into count too); a folder
    that cannot be listed holds nothing, as with ``os.walk``.

    One folder's listing is held at a time per level, never the whole tree's."""
    visits = 0

    def listing(folder: str) -> Iterator[tuple[str, str, int]]:
        nonlocal visits
        try:
            with os.scandir(folder) as found:
                entries = [(entry.name, _kind(entry)) for entry in found]
        except OSError:
            return iter(())
        visits += len(entries)
        if visits > limit:
            raise TooManyEntries
        keyed = [(name + dir_suffix if kind & _DIR else name, name, kind) for name, kind in entries]
        keyed.sort(key=lambda item: item[0])
        return iter(keyed)

    stack: list[tuple[str, tuple[str, ...], Iterator[tuple[str, str, int]]]] = [
        (root, (), listing(root))
    ]
    while stack:
        folder, parts, entries = stack[-1]
        item = next(entries, None)
        if item is None:
            stack.pop()
            continue
        _key, name, kind = item
        inner = (*parts, name)
        path = folder + name if folder.endswith("/") else f"{folder}/{name}"
        if kind & _DIR:
            if not kind & _LINK and descend(inner):
                stack.append((path, inner, listing(path)))
            continue
        yield inner, path, kind


def glob_files(
    pattern: str, base_dir: Path, limit: int = MAX_VISITS
) -> tuple[Path, Iterator[Found]]:
    """The glob's root, and the files (links to files included) matching ``pattern`` as
    they are found, in the order of their paths' parts (as ``sorted`` orders paths)."""
    root, segments = split_glob(pattern, base_dir)
    if not segments or not os.path.isdir(root):
        return root, iter(())

    def found() -> Iterator[Found]:
        descend = partial(_may_descend, segments)
        for inner, path, kind in _sorted_walk(str(root), limit, descend, ""):
            if kind & _FILE and _matches(segments, inner):
                yield Found(path, "/".join(inner), bool(kind & _LINK))

    return root, found()


def directory_files(
    directory: Path, patterns: Sequence[str], limit: int = MAX_VISITS
) -> Iterator[Found]:
    """Files under ``directory`` (hidden ones skipped) matching one of ``patterns`` (a name
    pattern, or one with ``/`` matched against the path inside the directory), as they
    are found, in the order of their paths inside it as strings."""

    def visible(inner: tuple[str, ...]) -> bool:
        return not inner[-1].startswith(".")

    matches = _matcher(patterns)
    for parts, path, kind in _sorted_walk(str(directory), limit, visible, "/"):
        name = parts[-1]
        if name.startswith("."):
            continue
        inner = "/".join(parts)
        if matches(name, inner):
            yield Found(path, inner, bool(kind & _LINK))


def _matcher(patterns: Sequence[str]) -> Callable[[str, str], bool]:
    """Whether a file (its name, its path inside the directory) matches one of
    ``patterns``: a name pattern (``*.mp3``) the name, whatever its case; one with ``/``
    the path, case and all. Each kind is one regular expression (fnmatch's own)."""

    def union(items: list[str]) -> re.Pattern[str] | None:
        return re.compile("|".join(map(fnmatch.translate, items))) if items else None

    by_name = union([p.lower() for p in patterns if "/" not in p])
    by_path = union([p for p in patterns if "/" in p])

    def matches(name: str, inner: str) -> bool:
        return bool(
            (by_name is not None and by_name.match(name.lower()))
            or (by_path is not None and by_path.match(inner))
        )

    return matches
