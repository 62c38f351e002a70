"""``python -m bench``: the orchestrator and the fixed-interval pollers, side by side.

Every contender gets the same files, a fresh S3 server and a fresh emulator (same speed,
same seed); the figures come from the emulator's counters, never from the contenders.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import contenders, report, schedules
from bench.metrics import Metrics, measure
from bench.services import Credentials, services
from bench.workload import SAMPLE_RATE, Workload, generate

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JSON = REPO / "bench" / "results" / "latest.json"
CONTENDER_KEYS = (contenders.ORCHESTRATOR_KEY, *(s.key for s in schedules.BASELINES))


@dataclass(frozen=True)
class Options:
    """A bench run's parameters."""

    jobs: int
    speed: float
    seed: int
    min_s: float
    max_s: float
    only: tuple[str, ...]
    json_path: Path
    workdir: Path | None
    timeout_s: float


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Compare speechkit-orchestrator with the fixed-interval pollers of other "
        "tools on the same workload, each against a fresh emulator, from the emulator's "
        "counters; print absolute figures and the ratios baseline/orchestrator.",
        epilog="Service time = emulator wall time x speed. The emulator's quotas (500 "
        "submissions, 2500 status checks) apply per 3600/speed wall seconds, so quota "
        "pressure is real. Every interval of every contender is scaled by 1/speed.",
    )
    p.add_argument("--jobs", type=int, default=100, help="number of audio files (default 100)")
    p.add_argument(
        "--speed",
        type=float,
        default=10.0,
        help="emulator clock speed-up; every contender's intervals are divided by it "
        "(default 10: one service hour takes 6 minutes; jobs x speed should stay near "
        "1000 or below, the requests per second a 1 s poller then needs)",
    )
    p.add_argument("--seed", type=int, default=1, help="seed of durations, audio and emulator")
    p.add_argument(
        "--min-duration", type=float, default=20.0, help="shortest file, seconds (default 20)"
    )
    p.add_argument(
        "--max-duration", type=float, default=240.0, help="longest file, seconds (default 240)"
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 12 files of 20-90 s (overrides --jobs and --max-duration)",
    )
    p.add_argument(
        "--only",
        default=",".join(CONTENDER_KEYS),
        help=f"comma-separated contenders to run (default all: {','.join(CONTENDER_KEYS)}); "
        "the orchestrator always runs, as the reference",
    )
    p.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_JSON,
        help="where to write the raw results (default bench/results/latest.json)",
    )
    p.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep audio, configs and logs here (default: a temporary directory, removed)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        help="wall seconds a contender may take before it is stopped (default 900)",
    )
    return p


def options(argv: list[str]) -> Options:
    """Parse and check ``argv``; exits with a one-line message on bad input."""
    p = parser()
    args = p.parse_args(argv)
    jobs, max_s = args.jobs, args.max_duration
    if args.quick:
        jobs, max_s = 12, 90.0
    only = tuple(k.strip() for k in args.only.split(",") if k.strip())
    unknown = [k for k in only if k not in CONTENDER_KEYS]
    if unknown:
        p.error(f"--only: unknown contender {unknown[0]!r} (known: {', '.join(CONTENDER_KEYS)})")
    if jobs < 1 or jobs > 450:
        # Above ~450 the submissions alone would exceed the 500-per-window quota (with the
        # orchestrator's margin): that measures the quota, not polling.
        p.error("--jobs must be between 1 and 450")
    if args.speed <= 0:
        p.error("--speed must be positive")
    if not 0 < args.min_duration <= max_s:
        p.error("durations must satisfy 0 < --min-duration <= --max-duration")
    if max_s > 4 * 3600:
        p.error("--max-duration must be at most 14400 s (the service's limit)")
    if args.timeout <= 0:
        p.error("--timeout must be positive")
    keys = (contenders.ORCHESTRATOR_KEY, *(k for k in only if k != contenders.ORCHESTRATOR_KEY))
    return Options(
        jobs=jobs,
        speed=args.speed,
        seed=args.seed,
        min_s=args.min_duration,
        max_s=max_s,
        only=keys,
        json_path=args.json,
        workdir=args.workdir,
        timeout_s=args.timeout,
    )


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # The children import `bench` (not installed) and `orchestrator` from this checkout.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _say(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


async def _run_one(
    key: str, workload: Workload, opts: Options, work: Path, env: dict[str, str]
) -> contenders.ContenderRun:
    creds = Credentials.fresh()
    folder = work / key
    async with services(
        creds=creds, speed=opts.speed, seed=opts.seed, env=env, logs=folder / "logs"
    ) as svc:
        if key == contenders.ORCHESTRATOR_KEY:
            return await contenders.run_orchestrator(
                svc, creds, workload, opts.speed, folder, env, opts.timeout_s
            )
        return await contenders.run_baseline(
            schedules.by_key(key), svc, creds, workload, opts.speed, folder, env, opts.timeout_s
        )


# A fixed-interval baseline whose checks came this much slower than its interval was held
# back by this machine (too many jobs x speed for the CPU), not by its own design.
SLOW_POLLING = 1.5


def _note(key: str, m: Metrics) -> str | None:
    """A warning when a baseline could not poll at its own pace on this machine."""
    if key == contenders.ORCHESTRATOR_KEY or m.seconds_per_check is None:
        return None
    schedule = schedules.by_key(key)
    if schedule.growth != 1.0 or m.throttled:
        return None
    if m.seconds_per_check > SLOW_POLLING * schedule.interval_s:
        return (
            f"polled every {m.seconds_per_check:.1f} s, not every {schedule.interval_s:g} s: "
            "this machine could not keep up (use fewer --jobs or a lower --speed); its "
            "checks/job are understated and its lag overstated"
        )
    return None


def _problem(run: contenders.ContenderRun, m: Metrics) -> str | None:
    if run.problem:
        return run.problem
    if m.operations < m.jobs or m.succeeded < m.jobs:
        return f"only {m.succeeded} of {m.jobs} jobs succeeded ({m.failed} operations failed)"
    if m.never_seen_done:
        return f"{m.never_seen_done} finished operations were never checked after they ended"
    return None


def header(workload: Workload, opts: Options) -> list[str]:
    """The lines that say what was measured."""
    window = 3600.0 / opts.speed
    return [
        f"speechkit-orchestrator bench: {len(workload.files)} WAV files of noise "
        f"({SAMPLE_RATE} Hz mono, {workload.min_s:g}-{workload.max_s:g} s log-uniform, "
        f"{workload.audio_seconds / 3600:.2f} audio hours), emulator speed x{opts.speed:g}, "
        f"seed {opts.seed}",
        f"quotas: 500 submissions + 2500 status checks per {window:g} s wall (one service "
        f"hour); times below are SERVICE time (emulator wall time x {opts.speed:g})",
        "each contender ran alone against a fresh S3 server and emulator; every figure comes "
        "from the emulator's counters (peak RSS: VmHWM of the contender's process)",
        "lag = done on the server -> first check that saw it; s/check = mean service seconds "
        "between checks while a job ran; wall = first submission -> last job seen done",
    ]


async def run(opts: Options) -> int:
    """Run every contender, print the report, write the JSON; the exit status."""
    # SIGTERM stops the bench the way Ctrl-C does: every child stopped, the workdir removed.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    env = _child_env()
    work = opts.workdir or Path(tempfile.mkdtemp(prefix="speechkit-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        workload = await asyncio.to_thread(
            generate, work / "audio", opts.jobs, opts.min_s, opts.max_s, opts.seed
        )
        _say(
            f"{len(workload.files)} files, {workload.audio_seconds / 3600:.2f} audio hours, "
            f"speed x{opts.speed:g}; working in {work}"
        )
        rows: list[report.Row] = []
        raw: list[dict[str, Any]] = []
        for key in opts.only:
            began = time.monotonic()
            _say(f"running {key} ...")
            result = await _run_one(key, workload, opts, work, env)
            metrics = measure(result.stats, len(workload.files), opts.speed)
            problem = _problem(result, metrics) or _note(key, metrics)
            _say(f"{key}: {time.monotonic() - began:.1f} s" + (f" ({problem})" if problem else ""))
            rows.append(report.Row(result.label, metrics, result.peak_rss_kib, problem))
            raw.append(
                {
                    "key": result.key,
                    "label": result.label,
                    "metrics": metrics.as_json(),
                    "peak_rss_kib": result.peak_rss_kib,
                    "process_wall_s": result.process_wall_s,
                    "exit_code": result.exit_code,
                    "problem": problem,
                    "emulator": result.stats,
                }
            )
        lines = header(workload, opts)
        print(report.render(lines, rows[0], rows[1:]), flush=True)
        _write_json(opts, workload, lines, raw)
        return 1 if any(r.problem for r in rows) else 0
    finally:
        if opts.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


def _write_json(
    opts: Options, workload: Workload, lines: list[str], raw: list[dict[str, Any]]
) -> None:
    document = {
        "header": lines,
        "speed": opts.speed,
        "seed": opts.seed,
        "workload": {
            "files": len(workload.files),
            "min_s": workload.min_s,
            "max_s": workload.max_s,
            "audio_seconds": workload.audio_seconds,
            "durations_s": [f.duration_s for f in workload.files],
        },
        "schedules": {s.key: s.source for s in schedules.BASELINES},
        "contenders": raw,
    }
    opts.json_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = opts.json_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, indent=1), "utf-8")
    tmp.replace(opts.json_path)
    _say(f"raw results written to {opts.json_path}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bench``."""
    opts = options(sys.argv[1:] if argv is None else argv)
    try:
        return asyncio.run(run(opts))
    except (KeyboardInterrupt, asyncio.CancelledError):
        # asyncio.run has cancelled the run: every child was stopped on the way out.
        _say("interrupted")
        return 130
