"""Filing a finished manifest away, once, even across a crash between the move and the store."""

from __future__ import annotations

import hashlib
from pathlib import Path

from orchestrator.service.daemon import file_away


def active(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(text.encode()).hexdigest()
    path = folder / f"{digest[:12]}-{name}"
    path.write_text(text, "utf-8")
    return path


def test_moved_once_and_found_again_by_content(tmp_path: Path) -> None:
    processed = tmp_path / "processed"
    first = active(tmp_path / ".active", "calls.yaml", "name: calls\n# first\n")
    assert file_away(first, processed) == processed / "calls.yaml"
    # Another manifest of the same name finishes later: its own name, not an overwrite.
    second = active(tmp_path / ".active", "calls.yaml", "name: calls\n# second\n")
    assert file_away(second, processed) == processed / "calls.1.yaml"
    # A restart after the moves, before the store recorded them: each is found, not lost.
    assert file_away(first, processed) == processed / "calls.yaml"
    assert file_away(second, processed) == processed / "calls.1.yaml"
    assert (processed / "calls.1.yaml").read_text("utf-8").endswith("# second\n")
    assert not list((tmp_path / ".active").iterdir())
