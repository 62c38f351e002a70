"""Filing a finished manifest away, once, even across a crash between the move and the store."""

from __future__ import annotations

import hashlib
from pathlib import Path

from orchestrator.core.jobs import ManifestStatus
from orchestrator.intake.filing import active_path, file_away, file_finished, filed_folder


def active(folder: Path, name: str, text: str) -> tuple[Path, str]:
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(text.encode()).hexdigest()
    path = active_path(folder, digest, name)
    path.write_text(text, "utf-8")
    return path, digest


def test_moved_once_and_found_again_by_content(tmp_path: Path) -> None:
    processed = tmp_path / "processed"
    first, one = active(tmp_path / ".active", "calls.yaml", "name: calls\n# first\n")
    assert file_away(first, processed, one) == processed / "calls.yaml"
    # Another manifest of the same name finishes later: its own name, not an overwrite.
    second, two = active(tmp_path / ".active", "calls.yaml", "name: calls\n# second\n")
    assert file_away(second, processed, two) == processed / "calls.1.yaml"
    # A restart after the moves, before the store recorded them: each is found, not lost.
    assert file_away(first, processed, one) == processed / "calls.yaml"
    assert file_away(second, processed, two) == processed / "calls.1.yaml"
    assert (processed / "calls.1.yaml").read_text("utf-8").endswith("# second\n")
    assert not list((tmp_path / ".active").iterdir())


async def test_filed_where_its_jobs_ends_send_it(tmp_path: Path) -> None:
    processed, failed = tmp_path / "processed", tmp_path / "failed"
    path, digest = active(tmp_path / ".active", "calls.yaml", "name: calls\n")

    def status(**counts: int) -> ManifestStatus:
        return ManifestStatus(1, "calls", str(path), "done", 0.0, 1.0, None, counts, digest)

    assert filed_folder(status(done=2), processed, failed) == processed
    # Cancelled by the operator is not failed: processed/, unless a job failed as well.
    assert filed_folder(status(done=1, cancelled=1), processed, failed) == processed
    assert filed_folder(status(cancelled=2), processed, failed) == processed
    assert filed_folder(status(cancelled=1, failed=1), processed, failed) == failed
    assert await file_finished(status(done=1, failed=1), processed, failed) == failed / "calls.yaml"
