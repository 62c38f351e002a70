"""Problems reports in a folder shared with a group, and submit's words about the inbox."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from orchestrator.intake.inbox import write_report
from orchestrator.intake.sharing import cannot_write, is_shared, refusal_advice


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_report_is_the_groups_to_read_only_in_a_shared_folder(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o2770)
    private = tmp_path / "private"
    private.mkdir()
    private.chmod(0o770)  # group-writable, not setgid: not shared
    previous = os.umask(0o077)
    try:
        write_report(shared / "a.yaml.problems.txt", "a: problem\n")
        write_report(private / "a.yaml.problems.txt", "a: problem\n")
    finally:
        os.umask(previous)
    assert is_shared(shared)
    assert not is_shared(private)
    assert _mode(shared / "a.yaml.problems.txt") == 0o640
    assert _mode(private / "a.yaml.problems.txt") == 0o600


def test_only_a_refusal_for_permissions_gets_advice(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    advice = refusal_advice("x.yaml: cannot read: Permission denied\n", tmp_path)
    assert advice is not None
    assert f"The inbox is {tmp_path} (group " in advice
    assert "mode 0755). It is not: it needs the setgid bit and group write." in advice
    assert refusal_advice("x.yaml:3: jobs: must be a list\n", tmp_path) is None


def test_a_full_disk_is_not_mistaken_for_a_missing_membership(tmp_path: Path) -> None:
    error = OSError(28, "No space left on device")
    assert cannot_write(tmp_path, error) == (
        f"cannot write to the inbox {tmp_path}: No space left on device"
    )
