"""Globs and directory entries: glob's matching, without its endless walks."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from orchestrator.intake.globbing import (
    Found,
    TooManyEntries,
    directory_files,
    glob_files,
    split_glob,
)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for rel in ("a.ogg", "calls/b.ogg", "calls/2024/c.ogg", "calls/2024/d.mp3", ".h/e.ogg"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    (tmp_path / "calls" / ".hidden.ogg").write_bytes(b"x")
    return tmp_path


def names(found: Iterable[Found], root: Path) -> list[str]:
    return [Path(f.path).relative_to(root).as_posix() for f in found]


def test_split_glob_finds_the_fixed_root(tmp_path: Path) -> None:
    assert split_glob("calls/**/*.ogg", tmp_path) == (tmp_path / "calls", ["**", "*.ogg"])
    assert split_glob("/srv/a/*.wav", tmp_path) == (Path("/srv/a"), ["*.wav"])
    assert split_glob("x.ogg", tmp_path) == (tmp_path / "x.ogg", [])


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("*.ogg", ["a.ogg"]),
        ("**/*.ogg", ["a.ogg", "calls/2024/c.ogg", "calls/b.ogg"]),
        ("calls/**/*", ["calls/2024/c.ogg", "calls/2024/d.mp3", "calls/b.ogg"]),
        ("calls/*/*.mp3", ["calls/2024/d.mp3"]),
        ("calls/.*.ogg", ["calls/.hidden.ogg"]),
        ("nothing/*.ogg", []),
    ],
)
def test_matches_as_glob_does(tree: Path, pattern: str, expected: list[str]) -> None:
    _root, found = glob_files(pattern, tree)
    assert names(found, tree) == expected


def test_links_to_directories_are_not_followed(tree: Path) -> None:
    # With glob.glob, two links back up the tree make `**` run for hours.
    (tree / "calls" / "up").symlink_to(tree)
    (tree / "calls" / "2024" / "again").symlink_to(tree / "calls")
    _root, found = glob_files("**/*.ogg", tree)
    assert names(found, tree) == ["a.ogg", "calls/2024/c.ogg", "calls/b.ogg"]
    # In the order of the paths inside the directory, as strings.
    assert [f.inner for f in directory_files(tree / "calls", ["*.ogg"])] == [
        "2024/c.ogg",
        "b.ogg",
    ]


def test_a_walk_stops_after_so_many_entries(tree: Path) -> None:
    assert len(list(glob_files("**/*.ogg", tree, limit=10)[1])) == 3
    with pytest.raises(TooManyEntries):
        list(glob_files("**/*.ogg", tree, limit=4)[1])
    with pytest.raises(TooManyEntries):
        list(directory_files(tree, ["*"], limit=4))
