"""Run the default regime: one batch inside one quota window, every contender alone."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import contenders, cpu, report, schedules
from bench.metrics import Metrics, measure
from bench.regimes import DefaultRegime
from bench.services import Credentials, services
from bench.workload import SAMPLE_RATE, Workload, generate

CONTENDER_KEYS = (contenders.ORCHESTRATOR_KEY, *(s.key for s in schedules.BASELINES))

# A fixed-interval baseline whose checks came this much slower than its interval was held
# back by this machine (too many jobs x speed for the CPU), not by its own design.
SLOW_POLLING = 1.5


@dataclass(frozen=True)
class DefaultRun:
    """What the default regime is asked to do."""

    regime: DefaultRegime
    seed: int
    only: tuple[str, ...]  # contender keys, the orchestrator first
    json_path: Path
    timeout_s: float


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


def header(workload: Workload, regime: DefaultRegime, seed: int) -> list[str]:
    """The lines that say what was measured."""
    window = 3600.0 / regime.speed
    return [
        f"DEFAULT regime (one batch inside one quota window): {len(workload.files)} WAV files "
        f"of noise ({SAMPLE_RATE} Hz mono, {workload.min_s:g}-{workload.max_s:g} s "
        f"log-uniform, {workload.audio_seconds / 3600:.2f} audio hours), emulator speed "
        f"x{regime.speed:g}, seed {seed}"
        + (f", {regime.overhead_s:g} s of processing per operation" if regime.overhead_s else ""),
        f"quotas: 500 submissions + 2500 status checks per {window:g} s wall (one service "
        f"hour); times below are SERVICE time (emulator wall time x {regime.speed:g})",
        "each contender ran alone against a fresh S3 server and emulator; every figure comes "
        "from the emulator's counters (peak RSS: VmHWM of the contender's process; CPU/job: "
        "user+sys of its process tree / jobs)",
        "lag = done on the server -> first check that saw it; s/check = mean service seconds "
        "between checks while a job ran; wall = first submission -> last job seen done",
    ]


async def _run_one(
    key: str, workload: Workload, plan: DefaultRun, work: Path, env: dict[str, str]
) -> contenders.ContenderRun:
    creds = Credentials.fresh()
    folder = work / key
    speed = plan.regime.speed
    async with services(
        creds=creds,
        speed=speed,
        seed=plan.seed,
        env=env,
        logs=folder / "logs",
        knobs=plan.regime.knobs(),
    ) as svc:
        arena = contenders.Arena(svc, creds, workload, speed, folder, env, plan.timeout_s)
        if key == contenders.ORCHESTRATOR_KEY:
            return await contenders.run_orchestrator(arena)
        return await contenders.run_baseline(schedules.by_key(key), arena, seed=plan.seed)


async def run_default(
    plan: DefaultRun, work: Path, env: dict[str, str], say: Callable[[str], None]
) -> tuple[str, bool]:
    """Run the regime; the printed report, and whether any run had a problem."""
    regime = plan.regime
    workload = await asyncio.to_thread(
        generate, work / "audio", regime.jobs, regime.min_s, regime.max_s, plan.seed
    )
    say(
        f"default: {len(workload.files)} files, {workload.audio_seconds / 3600:.2f} audio "
        f"hours, speed x{regime.speed:g}"
    )
    rows: list[report.Row] = []
    raw: list[dict[str, Any]] = []
    for key in plan.only:
        began = time.monotonic()
        say(f"default: running {key} ...")
        result = await _run_one(key, workload, plan, work, env)
        metrics = measure(result.stats, len(workload.files), regime.speed)
        problem = _problem(result, metrics) or _note(key, metrics)
        say(
            f"default: {key}: {time.monotonic() - began:.1f} s"
            + (f" ({problem})" if problem else "")
        )
        per_job = cpu.per_job_ms(result.cpu, len(workload.files))
        rows.append(report.Row(result.label, metrics, result.peak_rss_kib, problem, per_job))
        raw.append(
            {
                "key": result.key,
                "label": result.label,
                "metrics": metrics.as_json(),
                "cpu": None if result.cpu is None else asdict(result.cpu),
                "cpu_ms_per_job": per_job,
                "peak_rss_kib": result.peak_rss_kib,
                "process_wall_s": result.process_wall_s,
                "exit_code": result.exit_code,
                "problem": problem,
                "poller_counts": result.counts,
                "service_cpu_s": result.service_cpu_s,
                "emulator": result.stats,
            }
        )
    lines = header(workload, regime, plan.seed)
    text = report.render(lines, rows[0], rows[1:])
    await asyncio.to_thread(_write_json, plan, workload, lines, raw)
    return text, any(r.problem for r in rows)


def _write_json(
    plan: DefaultRun, workload: Workload, lines: list[str], raw: list[dict[str, Any]]
) -> None:
    document = {
        "header": lines,
        "speed": plan.regime.speed,
        "overhead_s": plan.regime.overhead_s,
        "seed": plan.seed,
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
    plan.json_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = plan.json_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, indent=1), "utf-8")
    tmp.replace(plan.json_path)
