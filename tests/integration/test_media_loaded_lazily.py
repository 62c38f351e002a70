"""FFmpeg's libraries load in the media workers, not in the daemon: a daemon (or a
``validate``) whose audio all goes as it is never pays their memory and start-up."""

from __future__ import annotations

import subprocess
import sys

from orchestrator.media.worker import PRELOAD


def loaded_after(statement: str) -> bool:
    """Whether a fresh interpreter has PyAV loaded after ``statement``."""
    code = f"import sys\n{statement}\nprint('av' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout.strip() == "True"


def test_the_daemon_and_the_cli_import_no_ffmpeg() -> None:
    assert not loaded_after(
        "import orchestrator.cli, orchestrator.service.daemon, orchestrator.pipeline.media"
    )


def test_what_the_daemon_sends_a_worker_imports_no_ffmpeg() -> None:
    assert not loaded_after("from orchestrator.media import calls, pool, target")


def test_a_worker_loads_ffmpeg_and_the_modules_it_calls_at_start() -> None:
    assert "av" in PRELOAD
    assert loaded_after("from orchestrator.media import probe")
