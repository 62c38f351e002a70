"""Chaos: the service fails (5xx, resets, slow answers, failed operations), a proxy cuts the
S3 connections, the daemon is SIGKILLed at random a dozen times and restarted, then run to
the end. Nothing is lost, no result is written twice, no quota window is overrun, and any
audio submitted twice was announced by a warning: ``job.resubmitting`` where a kill cut a
submission, ``job.resubmit`` where the service failed the recognition itself.
"""

from __future__ import annotations

import dataclasses
import json
import random
import signal
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from orchestrator.outputs.files import is_temp_file
from tests.conftest import S3Server
from tests.support.daemon import DaemonEnv
from tests.support.emulator import TEST_API_KEY, emulator
from tests.support.proxy import CuttingProxy
from tests.support.wavs import make_wavs

pytestmark = pytest.mark.e2e

JOBS = 30
KILLS = 12
SUBMIT_QUOTA, STATUS_QUOTA, WINDOW_S = 10, 25, 2.0
FAULTS = {
    "error_5xx_rate": 0.1,
    "reset_rate": 0.05,
    "slow_rate": 0.05,
    "slow_s": 0.3,
    "op_error_rate": 0.1,
    "seed": 5,
}


@pytest.mark.wire
async def test_chaos_loses_nothing_repeats_nothing_and_keeps_to_the_quotas(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    quotas = {"submit_quota": SUBMIT_QUOTA, "status_quota": STATUS_QUOTA}
    s3 = urlsplit(s3_server.endpoint_url)
    assert s3.hostname is not None
    assert s3.port is not None
    async with (
        emulator(s3_server, speed=50, quota_window_s=WINDOW_S, **quotas, **FAULTS) as emu,
        CuttingProxy(s3.hostname, s3.port, cut_rate=0.15, seed=7) as proxy,
    ):
        # The daemon reaches S3 through the proxy; the emulator reads it directly.
        through_proxy = dataclasses.replace(s3_server, endpoint_url=proxy.url)
        env = DaemonEnv.create(
            tmp_path,
            through_proxy,
            s3_bucket,
            emu.url,
            speed=50,
            quotas={
                "submissions": SUBMIT_QUOTA,
                "status_checks": STATUS_QUOTA,
                "window_s": WINDOW_S,
                "safety_margin": 0.1,
            },
            retry={"max_attempts": 12, "base_delay_s": 0.05, "max_delay_s": 0.5},
            concurrency={"uploads": 3},
        )
        names = make_wavs(env.root / "audio", JOBS, seed=13)
        env.put_manifest("chaos", [{"audio": n} for n in names], base_dir=env.root / "audio")

        rng = random.Random(17)
        for kill in range(KILLS):
            daemon = await env.start()
            if kill % 4 == 3:
                # Now and then while it starts: recovery, the sweep, the first claims.
                await env.wait_for_event("daemon.ready", count=kill + 1, limit_s=60)
            else:
                # Else after some transitions: mid-upload, mid-submit, mid-poll, mid-write.
                target = len(env.events("job.state")) + rng.randint(2, 10)
                try:
                    await env.wait_for_event("job.state", count=target, limit_s=30)
                except AssertionError:
                    assert daemon.returncode is None, env.output()[-3000:]
            daemon.send_signal(signal.SIGKILL)
            assert await daemon.wait() == -signal.SIGKILL
        assert await env.run_until_idle(limit_s=180) == 0
        stats = emu.stats()
        cuts = proxy.cuts

    # The trouble happened: kills, injected faults, cut connections.
    assert len(env.events("daemon.recovered")) == KILLS + 1
    assert sum(stats["faults"].values()) > 0
    assert cuts > 0

    # No job lost: every one ended, done or failed with the service's reason.
    report = json.loads((env.results / "chaos" / "report.json").read_text("utf-8"))
    assert report["jobs"] == JOBS
    assert set(report["counts"]) <= {"done", "failed"}
    failed_ids = {f["job_id"] for f in report["failures"]}
    for failure in report["failures"]:
        # The service's own failures are submitted again; a job fails once it gives up.
        assert failure["reason"].startswith(
            ("recognition failed:", "gave up after 12 submissions: recognition failed:")
        ), failure
    assert len(failed_ids) <= stats["summary"]["failed"]

    # Each output written once: a set found whole after a restart is not written again.
    written = Counter(e["job_id"] for e in env.events("job.written"))
    assert set(written.values()) == {1}
    done_ids = set(range(1, JOBS + 1)) - failed_ids
    assert set(written) | {e["job_id"] for e in env.events("job.already_written")} == done_ids
    for result in report["results"]:
        assert (env.results / "chaos" / f"{result['output']}.json").exists()
    leftovers = [p for p in env.root.rglob("*") if is_temp_file(p.name)]
    assert leftovers == []

    # No quota overrun in any sliding window, and no 429 at all.
    assert stats["quotas"]["submit"]["max_in_window"] <= SUBMIT_QUOTA
    assert stats["quotas"]["status"]["max_in_window"] <= STATUS_QUOTA
    assert stats["throttled_total"] == 0, stats["throttled"]

    # Audio submitted twice only where a kill cut a submission or the service failed the
    # recognition, and said so.
    resubmitted = env.events("job.resubmitting") + env.events("job.resubmit")
    assert all(e["level"] == "warning" for e in resubmitted)
    assert stats["summary"]["operations"] <= JOBS + len(resubmitted)

    # No secret in any line or file.
    everything = env.output() + "".join(
        p.read_text("utf-8") for p in env.results.rglob("*") if p.is_file()
    )
    for secret in (TEST_API_KEY, s3_server.secret_key):
        assert secret not in everything
