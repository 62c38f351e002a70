"""The picture of ``submit --wait`` in the README, drawn from a real run: the daemon works
through a backlog under tight quotas while the view is drawn from its store, and a frame
from the middle of the run is saved as SVG (a test artefact; with
``UPDATE_SCREENSHOTS=1`` it replaces ``docs/submit-wait.svg``)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from rich.console import Console

from orchestrator.commands.watching import Frame, frame_view
from orchestrator.config import load_config
from orchestrator.pipeline.settings import settings_from_config
from orchestrator.service.watching import read_progress
from orchestrator.store import open_store
from tests.conftest import S3Server
from tests.support.daemon import REPO, emulated_daemon, eventually
from tests.support.wavs import make_wavs

pytestmark = pytest.mark.e2e

JOBS = 40
TITLE = "speechkit-orchestrator: submit --wait (Ctrl-C stops watching, not the batch)"


async def test_a_frame_of_a_real_run_is_drawn_as_svg(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    quotas = {"submit_quota": 6, "status_quota": 30, "quota_window_s": 2.0}
    async with emulated_daemon(
        tmp_path,
        s3_server,
        s3_bucket,
        speed=20,
        emulator_options=quotas,
        quotas={"submissions": 6, "status_checks": 30, "window_s": 2.0},
    ) as (_emu, env):
        names = make_wavs(env.root / "audio", JOBS, seed=5)
        jobs = [{"audio": n} for n in names]
        jobs.append({"audio": "call-missing.wav"})
        (env.root / "audio" / "call-missing.wav").write_bytes(
            (env.root / "audio" / names[0]).read_bytes()[:44]  # a header, no audio: fails
        )
        env.put_manifest("calls-2026-05", jobs, base_dir=env.root / "audio")
        config = load_config(env.config_path, env=env.env)
        settings = settings_from_config(config)
        daemon = await env.start()
        store = await open_store(config)
        best: Frame | None = None
        try:

            async def mid_run() -> bool:
                nonlocal best
                frame = Frame(await read_progress(store, settings, lambda _m: True, time.time()))
                if frame.progress:
                    (progress,) = frame.progress
                    counts = progress.counts
                    if (
                        counts.get("done", 0) >= 12
                        and progress.failed
                        and progress.eta_s
                        and progress.jobs_per_min
                    ):
                        best = frame
                        return True
                return False

            await eventually(mid_run, limit_s=120, step_s=0.2)
        finally:
            await store.close()
            await env.stop(daemon)

    assert best is not None
    console = Console(record=True, width=140, force_terminal=True, color_system="truecolor")
    console.print(frame_view(best, time.time(), TITLE))
    svg = tmp_path / "submit-wait.svg"
    console.save_svg(str(svg), title="speechkit-orchestrator submit --wait")
    text = svg.read_text("utf-8")
    assert "calls-2026-05" in text
    assert "failed" in text
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        shutil.copy(svg, REPO / "docs" / "submit-wait.svg")
