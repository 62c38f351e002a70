"""The command line: every subcommand is there, and `python -m orchestrator` runs it."""

from __future__ import annotations

import subprocess
import sys

from orchestrator.cli import build_parser

COMMANDS = {
    "run",
    "submit",
    "status",
    "retry",
    "cancel",
    "migrate-state",
    "validate",
    "plan",
    "emulator",
    "demo",
}


def test_every_subcommand_is_registered() -> None:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    assert set(sub.choices or {}) == COMMANDS


def test_module_entry_point_and_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("speechkit-orchestrator ")
