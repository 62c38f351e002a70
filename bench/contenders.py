"""Run one contender against fresh services and collect the emulator's counters.

The orchestrator is the real daemon (``python -m orchestrator run --until-idle``), driven
only by its CLI and its YAML config; each baseline is ``python -m bench.poller``. Both are
child processes, so their peak RSS (VmHWM sampled from /proc) and CPU time (the kernel's
accounting of the ended process tree, :mod:`bench.cpu`) are measured the same way.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench import procs
from bench.cpu import CpuTimes
from bench.poller import API_KEY_ENV, PollerJob, PollerSpec
from bench.profiling import PROFILE_ENV, profile_summary
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
    cpu: CpuTimes | None = None
    counts: dict[str, Any] | None = None  # a baseline's own counts (its last output line)
    service_cpu_s: dict[str, float | None] | None = None  # the emulator's and S3 server's
    problem: str | None = None  # why the run is not to be trusted, if it is not


@dataclass(frozen=True)
class Arena:
    """Where one contender runs: the services it meets, its credentials and workload, the
    service speed, its own folder and environment, and how long it may take."""

    services: Services
    creds: Credentials
    workload: Workload
    speed: float
    work: Path
    env: dict[str, str]
    limit_s: float


@dataclass(frozen=True)
class Quotas:
    """Requests allowed per quota window (one service hour: 3600/speed wall seconds)."""

    submissions: int = 500
    status_checks: int = 2500


def daemon_config(
    services: Services, speed: float, work: Path, quotas: Quotas | None = None
) -> dict[str, Any]:
    """The daemon's config: the real service's settings with every duration divided by ``speed``.

    Quotas and their window match the emulator's (``quotas`` per 3600/speed s), so the
    daemon plans against the limits the emulator enforces.
    """
    q = quotas or Quotas()
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
        "quotas": {
            "submissions": q.submissions,
            "status_checks": q.status_checks,
            "window_s": 3600.0 / speed,
        },
        "polling": {
            "initial_ratio": 10.0 / 60.0 / speed,
            "min_interval_s": 1.0 / speed,
            "max_interval_s": 120.0 / speed,
            "deferred_max_interval_s": 1800.0 / speed,
            # The emulator's timestamps are whole seconds of its sped-up clock.
            "timestamp_resolution_s": 1.0 / speed,
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


def _prepare_daemon(
    services: Services, workload: Workload, speed: float, work: Path, quotas: Quotas
) -> Path:
    """Write the daemon's config and put the manifest in its inbox; the config's path."""
    inbox = work / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    config_path = work / "config.yaml"
    config = daemon_config(services, speed, work, quotas)
    # The workload's audio lives beside the contenders' folders, outside this config's.
    config["paths"]["input_roots"] = [str(workload.files[0].path.parent)]
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), "utf-8")
    (inbox / "bench.yaml").write_text(yaml.safe_dump(_manifest(workload), sort_keys=False))
    return config_path


async def run_orchestrator(arena: Arena, quotas: Quotas | None = None) -> ContenderRun:
    """The real daemon, given the workload as one manifest in its inbox, until idle."""
    config_path = await asyncio.to_thread(
        _prepare_daemon, arena.services, arena.workload, arena.speed, arena.work, quotas or Quotas()
    )
    child_env = {
        **arena.env,
        "BENCH_SPEECHKIT_API_KEY": arena.creds.api_key,
        "BENCH_S3_ACCESS_KEY_ID": arena.creds.s3_access_key,
        "BENCH_S3_SECRET_ACCESS_KEY": arena.creds.s3_secret_key,
    }
    args = [sys.executable, "-m", "orchestrator", "run", "--config", str(config_path)]
    args += ["--until-idle", "--settle-seconds", "0"]
    profile = arena.work / "daemon.prof"
    if arena.env.get(PROFILE_ENV):
        args[1:1] = ["-m", "cProfile", "-o", str(profile)]
    log = arena.work / "daemon.log"
    child = await procs.run_measured(args, env=child_env, log=log, limit_s=arena.limit_s)
    if arena.env.get(PROFILE_ENV) and profile.exists():
        print(await asyncio.to_thread(profile_summary, profile), file=sys.stderr, flush=True)
    stats = await emulator_stats(arena.services.emulator_url)
    service_cpu = arena.services.cpu_s()
    problem = None
    if child.timed_out:
        problem = f"stopped after {arena.limit_s:g} s; see {log}"
    elif child.exit_code != 0:
        problem = f"the daemon exited with status {child.exit_code}; see {log}"
    return ContenderRun(
        ORCHESTRATOR_KEY,
        ORCHESTRATOR_LABEL,
        stats,
        child.peak_rss_kib,
        child.wall_s,
        child.exit_code,
        cpu=child.cpu,
        service_cpu_s=service_cpu,
        problem=problem,
    )


async def run_baseline(schedule: Schedule, arena: Arena, seed: int = 0) -> ContenderRun:
    """Upload the audio for the baseline (not timed), then run its poller process."""
    await asyncio.to_thread(arena.work.mkdir, parents=True, exist_ok=True)
    await upload_raw(
        arena.services.s3_endpoint, arena.creds, arena.services.bucket, arena.workload.files
    )
    spec = PollerSpec(
        schedule=schedule.key,
        emulator_url=arena.services.emulator_url,
        jobs=[
            PollerJob(
                uri=f"{STORAGE_URL}/{arena.services.bucket}/{object_key(f)}",
                audio_s=f.duration_s,
                encoding=f.encoding,
            )
            for f in arena.workload.files
        ],
        speed=arena.speed,
        sample_rate=SAMPLE_RATE,
        seed=seed,
    )
    spec_path = arena.work / "spec.json"
    spec.dump(spec_path)
    log = arena.work / "poller.log"
    child = await procs.run_measured(
        [sys.executable, "-m", "bench.poller", str(spec_path)],
        env={**arena.env, API_KEY_ENV: arena.creds.api_key},
        log=log,
        limit_s=arena.limit_s,
    )
    stats = await emulator_stats(arena.services.emulator_url)
    service_cpu = arena.services.cpu_s()
    counts = _counts(log)
    problem = None
    if child.timed_out:
        problem = f"stopped after {arena.limit_s:g} s; see {log}"
    elif child.exit_code != 0:
        problem = f"the poller exited with status {child.exit_code}: {_failure(log, counts)}"
    return ContenderRun(
        schedule.key,
        schedule.label,
        stats,
        child.peak_rss_kib,
        child.wall_s,
        child.exit_code,
        cpu=child.cpu,
        counts=counts,
        service_cpu_s=service_cpu,
        problem=problem,
    )


def _counts(log: Path) -> dict[str, Any] | None:
    """The poller's own counts: the JSON object on its last output line, if any."""
    lines = log.read_text("utf-8", errors="replace").strip().splitlines()
    try:
        counts = json.loads(lines[-1]) if lines else None
    except ValueError:
        return None
    return counts if isinstance(counts, dict) else None


def _failure(log: Path, counts: dict[str, Any] | None) -> str:
    if counts is None:
        lines = log.read_text("utf-8", errors="replace").strip().splitlines()
        return lines[-1][:300] if lines else "(no output)"
    errors = counts.get("errors") or []
    return f"{len(errors)} jobs failed, e.g. {errors[0][:300]}" if errors else "(no error named)"
