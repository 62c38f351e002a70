"""Input roots: a manifest names only files under them, judged by their real paths."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orchestrator.config import config_from_mapping
from orchestrator.core.errors import Problem, UserInputError
from orchestrator.intake.manifest import load_manifest
from orchestrator.intake.roots import InputRoots

AUDIO = Path(__file__).resolve().parents[2] / "examples" / "audio"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """allowed/ (two files, a link out, a link in), private/ (a file), a config beside."""
    (tmp_path / "allowed" / "calls").mkdir(parents=True)
    (tmp_path / "private").mkdir()
    shutil.copy(AUDIO / "greeting-mono.ogg", tmp_path / "allowed" / "calls" / "a.ogg")
    shutil.copy(AUDIO / "greeting-mono.ogg", tmp_path / "allowed" / "b.ogg")
    shutil.copy(AUDIO / "greeting-mono.ogg", tmp_path / "private" / "secret.ogg")
    (tmp_path / "allowed" / "calls" / "out.ogg").symlink_to(tmp_path / "private" / "secret.ogg")
    (tmp_path / "private" / "in.ogg").symlink_to(tmp_path / "allowed" / "b.ogg")
    return tmp_path


def roots_of(tree: Path) -> InputRoots:
    config = config_from_mapping(
        {
            "storage": {"bucket": "audio"},
            "paths": {"input_roots": [str(tree / "allowed")], "output": str(tree / "allowed/res")},
        },
        base_dir=tree,
    )
    return InputRoots.of(config)


def refused(manifest: Path, roots: InputRoots) -> list[Problem]:
    with pytest.raises(UserInputError) as info:
        load_manifest(manifest, roots)
    return info.value.problems


def test_files_are_judged_by_their_real_paths(tree: Path) -> None:
    roots = roots_of(tree)
    assert roots.refusal(tree / "allowed" / "b.ogg") is None
    assert roots.refusal(tree / "allowed" / "calls" / ".." / "b.ogg") is None
    assert roots.refusal(tree / "private" / "in.ogg") is None  # a link into a root: its target
    for outside in (tree / "private" / "secret.ogg", tree / "allowed" / "calls" / "out.ogg"):
        reason = roots.refusal(outside)
        assert reason is not None
        assert reason.startswith(str(outside))
        assert "outside the input roots" in reason
        assert str(tree / "allowed") in reason
    linked = roots.refusal(tree / "allowed" / "calls" / "out.ogg")
    assert linked is not None
    assert f"-> {tree / 'private' / 'secret.ogg'}" in linked
    # Inside a root, the daemon's own files are refused all the same.
    own = roots.refusal(tree / "allowed" / "res" / "m" / "x.json")
    assert own is not None
    assert "the daemon's own files" in own


def test_a_manifest_outside_the_roots_is_refused_entry_by_entry(tree: Path) -> None:
    manifest = tree / "m.yaml"
    manifest.write_text(
        f"name: m\nbase_dir: {tree / 'allowed'}\njobs:\n"
        "  - b.ogg\n"  # fine
        "  - calls/out.ogg\n"  # a link out
        f"  - {tree / 'private' / 'secret.ogg'}\n"  # outside
        f"  - {tree / 'private'}/*.ogg\n"  # a glob rooted outside: not even listed
        f"  - audio: {tree / 'private'}\n"  # a directory outside: not walked
        "  - calls/\n",  # a directory inside, holding a link out: that file refused
        "utf-8",
    )
    found = refused(manifest, roots_of(tree))
    assert [p.line for p in found] == [5, 6, 7, 8, 9]
    assert all("outside the input roots" in p.message for p in found)
    assert str(tree / "private") in found[2].message
    # Without roots (validate without a config) the same entries are no such problem.
    with pytest.raises(UserInputError) as info:
        load_manifest(manifest)
    assert not [p for p in info.value.problems if "input roots" in p.message]


def test_a_path_the_filesystem_refuses_is_a_problem_of_its_entry(tree: Path) -> None:
    manifest = tree / "m.yaml"
    manifest.write_text(
        f"name: m\nbase_dir: {tree / 'allowed'}\njobs:\n  - b.ogg\n  - {'x' * 300}.ogg\n"
        f"  - audio: {'d' * 300}/\n",
        "utf-8",
    )
    found = refused(manifest, roots_of(tree))
    assert [p.line for p in found] == [5, 6]
    assert all("File name too long" in p.message for p in found)


def test_the_credentials_directory_and_the_lock_file_are_never_audio(tmp_path: Path) -> None:
    # input_roots: [/] would otherwise let a manifest upload the daemon's API key as audio.
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "api-key").write_text("not audio")
    config = config_from_mapping(
        {"storage": {"bucket": "audio"}, "paths": {"input_roots": ["/"]}},
        base_dir=tmp_path,
        env={"CREDENTIALS_DIRECTORY": str(credentials)},
    )
    roots = InputRoots.of(config)
    for own in (credentials / "api-key", Path(f"{config.paths.state_file}.lock")):
        reason = roots.refusal(own)
        assert reason is not None, own
        assert "the daemon's own files" in reason
