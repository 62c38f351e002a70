"""Run one contender against fresh services and collect the emulator's counters.

The orchestrator is the real daemon (``python -m orchestrator run --until-idle``); each
baseline is ``python -m bench.poller``. Both are child processes, so their peak RSS is
measured the same way (VmHWM sampled from /proc).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench import procs
from bench.poller import API_KEY_ENV, PollerSpec
from bench.schedules import Schedule
from bench.services import Credentials, Services, emulator_stats, object_key, upload_raw
from bench.workload import SAMPLE_RATE, Workload

ORCHESTRATOR_KEY = "orchestrator"
ORCHESTRATOR_LABEL = "speechkit-orchestrator"
STORAGE_URL = "https://storage.yandexcloud.net"


@dataclass
class ContenderRun:
    """What one contender did, as the emulator counted it, plus its process's figures."""

    key: str
    label: str
    stats: dict[str, Any]
    peak_rss_kib: int | None
    process_wall_s: float
    exit_code: int
    problem: str | None = None  # why the run is not to be trusted, if it is not


def daemon_config(services: Services, speed: float, work: Path) -> dict[str, Any]:
    """The daemon's config: the real service's settings with every duration divided by ``speed``.

    Quotas and their window match the emulator's (500 and 2500 per 3600/speed s), so the
    daemon plans against the limits the emulator enforces.
    """
    return {
        "speechkit": {
            "transcribe_url": services.emulator_url,
            "operation_url": services.emulator_url,
            "api_key_env": "BENCH_SPEECHKIT_API_KEY",
            "request_timeout_s": 30.0,
        },
        "storage": {
            "bucket": services.bucket,
            "endpoint_url": services.s3_endpoint,
            "region": "ru-central1",
            "access_key_id_env": "BENCH_S3_ACCESS_KEY_ID",
            "secret_access_key_env": "BENCH_S3_SECRET_ACCESS_KEY",
            "delete_after_done": True,
        },
        "paths": {
            "state_file": str(work / "state" / "orchestrator.sqlite3"),
            "inbox": str(work / "inbox"),
            "processed": str(work / "processed"),
            "failed": str(work / "failed"),
            "output": str(work / "results"),
        },
        "quotas": {"submissions": 500, "status_checks": 2500, "window_s": 3600.0 / speed},
        "polling": {
            "initial_ratio": 10.0 / 60.0 / speed,
            "min_interval_s": 1.0 / speed,
            "max_interval_s": 120.0 / speed,
            "deferred_max_interval_s": 1800.0 / speed,
        },
        "retry": {"base_delay_s": 2.0 / speed, "max_delay_s": 300.0 / speed},
        "logging": {"format": "json", "level": "info"},
        "status": {"listen_port": None},
        "service": {"drain_timeout_s": 30.0, "watchdog": False},
    }


def _manifest(workload: Workload) -> dict[str, Any]:
    folder = workload.files[0].path.parent
    return {
        "name": "bench",
        "base_dir": str(folder),
        "defaults": {"language": "ru-RU", "model": "general", "api": "v2"},
        "jobs": [{"audio": f.name} for f in workload.files],
    }


def _prepare_daemon(services: Services, workload: Workload, speed: float, work: Path) -> Path:
    """Write the daemon's config and put the manifest in its inbox; the config's path."""
    inbox = work / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    config_path = work / "config.yaml"
    config = daemon_config(services, speed, work)
    # The workload's audio lives beside the contenders' folders, outside this config's.
    config["paths"]["input_roots"] = [str(workload.files[0].path.parent)]
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), "utf-8")
    (inbox / "bench.yaml").write_text(yaml.safe_dump(_manifest(workload), sort_keys=False))
    return config_path


async def _measure_child(
    args: list[str], env: dict[str, str], log: Path, limit_s: float
) -> tuple[int, int | None, float, bool]:
    """Run a child to its end: (exit code, peak RSS KiB, wall seconds, timed out)."""
    with log.open("wb") as out:
        began = time.monotonic()
        process = await procs.spawn(args, env=env, stdout=out, stderr=asyncio.subprocess.STDOUT)
        sampler = procs.RssSampler(process.pid)
        timed_out = False
        try:
            await asyncio.wait_for(process.wait(), limit_s)
        except TimeoutError:
            timed_out = True
        finally:
            # Once wait() returns the child is reaped and /proc forgets it: the sampler's
            # last reading (at most RSS_SAMPLE_S old) is the peak.
            peak = await sampler.close()
            await procs.stop(process)
        wall = time.monotonic() - began
    assert process.returncode is not None
    return process.returncode, peak, wall, timed_out


async def run_orchestrator(
    services: Services,
    creds: Credentials,
    workload: Workload,
    speed: float,
    work: Path,
    env: dict[str, str],
    limit_s: float,
) -> ContenderRun:
    """The real daemon, given the workload as one manifest in its inbox, until idle."""
    config_path = await asyncio.to_thread(_prepare_daemon, services, workload, speed, work)
    child_env = {
        **env,
        "BENCH_SPEECHKIT_API_KEY": creds.api_key,
        "BENCH_S3_ACCESS_KEY_ID": creds.s3_access_key,
        "BENCH_S3_SECRET_ACCESS_KEY": creds.s3_secret_key,
    }
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        child_env.pop(name, None)
    args = [sys.executable, "-m", "orchestrator", "run", "--config", str(config_path)]
    args += ["--until-idle", "--settle-seconds", "0"]
    log = work / "daemon.log"
    code, peak, wall, timed_out = await _measure_child(args, child_env, log, limit_s)
    stats = await emulator_stats(services.emulator_url)
    problem = None
    if timed_out:
        problem = f"stopped after {limit_s:g} s; see {log}"
    elif code != 0:
        problem = f"the daemon exited with status {code}; see {log}"
    return ContenderRun(ORCHESTRATOR_KEY, ORCHESTRATOR_LABEL, stats, peak, wall, code, problem)


async def run_baseline(
    schedule: Schedule,
    services: Services,
    creds: Credentials,
    workload: Workload,
    speed: float,
    work: Path,
    env: dict[str, str],
    limit_s: float,
) -> ContenderRun:
    """Upload the raw audio for the baseline (not timed), then run its poller process."""
    await asyncio.to_thread(work.mkdir, parents=True, exist_ok=True)
    await upload_raw(services.s3_endpoint, creds, services.bucket, workload.files)
    spec = PollerSpec(
        schedule=schedule.key,
        emulator_url=services.emulator_url,
        uris=[f"{STORAGE_URL}/{services.bucket}/{object_key(f)}" for f in workload.files],
        speed=speed,
        sample_rate=SAMPLE_RATE,
    )
    spec_path = work / "spec.json"
    spec.dump(spec_path)
    log = work / "poller.log"
    code, peak, wall, timed_out = await _measure_child(
        [sys.executable, "-m", "bench.poller", str(spec_path)],
        {**env, API_KEY_ENV: creds.api_key},
        log,
        limit_s,
    )
    stats = await emulator_stats(services.emulator_url)
    problem = None
    if timed_out:
        problem = f"stopped after {limit_s:g} s; see {log}"
    elif code != 0:
        problem = f"the poller exited with status {code}: {_last_line(log)}"
    return ContenderRun(schedule.key, schedule.label, stats, peak, wall, code, problem)


def _last_line(log: Path) -> str:
    lines = log.read_text("utf-8", errors="replace").strip().splitlines()
    if not lines:
        return "(no output)"
    try:
        counts = json.loads(lines[-1])
    except ValueError:
        return lines[-1][:300]
    errors = counts.get("errors") or []
    return f"{len(errors)} jobs failed, e.g. {errors[0][:300]}" if errors else lines[-1][:300]
