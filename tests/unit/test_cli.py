"""The command line: every subcommand is there, and `python -m orchestrator` runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from orchestrator.cli import build_parser

COMMANDS = {
    "run",
    "submit",
    "status",
    "retry",
    "cancel",
    "close",
    "export",
    "migrate",
    "migrate-state",
    "validate",
    "plan",
    "probe",
    "emulator",
    "demo",
    "sandbox",
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


LOADED_BY_STATUS = """
import sys
from pathlib import Path
from orchestrator.cli import main
main(["status", "--config", sys.argv[1]])
heavy = ("orchestrator.service.daemon", "orchestrator.pipeline.pipeline", "asyncpg", "aioboto3")
print(",".join(name for name in heavy if name in sys.modules) or "none")
"""


def test_a_command_loads_its_own_modules_only(tmp_path: Path) -> None:
    # `status` against a SQLite store: neither the daemon nor PostgreSQL's driver nor the
    # S3 client is imported (an operator runs it often; the daemon costs ~0.6 s to load).
    config = tmp_path / "config.yaml"
    config.write_text(
        "storage: {bucket: abc, access_key_id_env: X, secret_access_key_env: Y}\n"
        f"paths: {{state_file: {tmp_path / 'state.db'}, inbox: {tmp_path / 'inbox'}}}\n",
        "utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-c", LOADED_BY_STATUS, str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "daemon: none has run on this store yet; start one (`run`, or its service)",
        "no manifests yet",
        "none",
    ]
