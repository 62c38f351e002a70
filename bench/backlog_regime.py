"""Run the backlog regime once per quota ratio; print the tables, write the JSON and chart.

At each ratio the orchestrator runs alone; then the baselines run side by side, each
against its own fresh S3 server and emulator (``serial`` runs them one after another).
A baseline's run costs about 2 CPU seconds in the poller and 10 in its emulator over
two and a half minutes, so five at once load two cores by about a quarter, and the
bench takes half the time: that is what lets a quota window last 36 wall seconds, so
that the daemon is asked for about the job rate of the issue's own measurement rather
than several times more. Should the emulators still fall behind (a busy machine), each
table says so (:func:`bench.backlog.service_pace`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import backlog_report, chart, contenders, cpu, schedules
from bench.backlog import BacklogMetrics, measure_backlog
from bench.regimes import BacklogRegime, ratio_label
from bench.services import Credentials, services
from bench.workload import Workload, generate_opus

CONTENDER_KEYS = (contenders.ORCHESTRATOR_KEY, *(s.key for s in schedules.BACKLOG_BASELINES))


@dataclass(frozen=True)
class BacklogRun:
    """What the backlog regime is asked to do."""

    regime: BacklogRegime
    seed: int
    only: tuple[str, ...]  # contender keys, the orchestrator first
    json_path: Path
    chart_paths: tuple[Path, ...]
    timeout_s: float
    serial: bool = False  # every contender alone, one after another


def _problem(key: str, run: contenders.ContenderRun, m: BacklogMetrics) -> str | None:
    if run.problem:
        return run.problem
    if m.operations < m.jobs:
        return f"only {m.operations} of {m.jobs} jobs were submitted"
    if m.failed:
        return f"{m.failed} operations failed on the server"
    gives_up = key != contenders.ORCHESTRATOR_KEY and schedules.by_key(key).max_checks
    if m.never_seen_done and not gives_up:
        return f"{m.never_seen_done} finished operations were never checked after they ended"
    return None


async def _run_one(
    key: str,
    ratio: float,
    plan: BacklogRun,
    workload: Workload,
    work: Path,
    env: dict[str, str],
) -> contenders.ContenderRun:
    regime = plan.regime
    folder = work / f"backlog-{ratio:g}" / key
    creds = Credentials.fresh()
    async with services(
        creds=creds,
        speed=regime.speed,
        seed=plan.seed,
        env=env,
        logs=folder / "logs",
        knobs=regime.knobs(ratio),
    ) as svc:
        arena = contenders.Arena(svc, creds, workload, regime.speed, folder, env, plan.timeout_s)
        if key == contenders.ORCHESTRATOR_KEY:
            return await contenders.run_orchestrator(arena, quotas=regime.quotas(ratio))
        return await contenders.run_baseline(schedules.by_key(key), arena, seed=plan.seed)


async def _run_ratio(
    ratio: float,
    plan: BacklogRun,
    workload: Workload,
    work: Path,
    env: dict[str, str],
    say: Callable[[str], None],
) -> dict[str, contenders.ContenderRun]:
    """Every contender at one ratio: the orchestrator alone, then the baselines."""
    label = ratio_label(ratio)
    done: dict[str, contenders.ContenderRun] = {}

    async def one(key: str) -> None:
        began = time.monotonic()
        say(f"backlog {label}: running {key} ...")
        done[key] = await _run_one(key, ratio, plan, workload, work, env)
        say(f"backlog {label}: {key} took {time.monotonic() - began:.0f} s")

    baselines = [k for k in plan.only if k != contenders.ORCHESTRATOR_KEY]
    if contenders.ORCHESTRATOR_KEY in plan.only:
        await one(contenders.ORCHESTRATOR_KEY)
    if plan.serial:
        for key in baselines:
            await one(key)
    else:
        # A TaskGroup: if one fails to run at all, the others are stopped, not orphaned.
        async with asyncio.TaskGroup() as group:
            for key in baselines:
                group.create_task(one(key))
    return done


def _retry_after_note(runs: Sequence[contenders.ContenderRun]) -> str | None:
    """How the baselines' 429s were answered, from their own counts."""
    throttled = with_header = 0
    for run in runs:
        if run.counts:
            throttled += int(run.counts.get("throttled", 0))
            with_header += int(run.counts.get("throttled_with_retry_after", 0))
    if not throttled:
        return None
    return (
        f"the baselines' 429s carried a Retry-After {with_header} times out of {throttled} "
        "(the others waited the backoff)"
    )


def _record(run: contenders.ContenderRun, m: BacklogMetrics, problem: str | None) -> dict[str, Any]:
    return {
        "key": run.key,
        "label": run.label,
        "metrics": m.as_json(),
        "cpu": None if run.cpu is None else asdict(run.cpu),
        "cpu_ms_per_job": cpu.per_job_ms(run.cpu, m.jobs),
        "peak_rss_kib": run.peak_rss_kib,
        "process_wall_s": run.process_wall_s,
        "exit_code": run.exit_code,
        "problem": problem,
        "poller_counts": run.counts,
        "service_cpu_s": run.service_cpu_s,
        "emulator": run.stats,
    }


async def run_backlog(
    plan: BacklogRun, work: Path, env: dict[str, str], say: Callable[[str], None]
) -> tuple[str, bool]:
    """Run the regime; the printed report, and whether any run had a problem."""
    regime = plan.regime
    workload = await asyncio.to_thread(
        generate_opus, work / "backlog-audio", regime.jobs, regime.min_s, regime.max_s, plan.seed
    )
    audio_hours = workload.audio_seconds / 3600.0
    say(
        f"backlog: {regime.jobs} files, {audio_hours:.1f} audio hours, speed x{regime.speed:g}, "
        f"window {regime.window_wall_s:g} s wall, ratios "
        + ", ".join(ratio_label(r) for r in regime.ratios)
    )
    by_ratio: list[tuple[float, list[backlog_report.BacklogRow]]] = []
    records: list[dict[str, Any]] = []
    runs: list[contenders.ContenderRun] = []
    for ratio in regime.ratios:
        runs_here = await _run_ratio(ratio, plan, workload, work, env, say)
        rows: list[backlog_report.BacklogRow] = []
        contender_records: list[dict[str, Any]] = []
        for key in plan.only:
            run = runs_here[key]
            metrics = measure_backlog(run.stats, regime.jobs)
            problem = _problem(key, run, metrics)
            if problem:
                say(f"backlog {ratio_label(ratio)}: {key}: {problem}")
            per_job = cpu.per_job_ms(run.cpu, regime.jobs)
            rows.append(
                backlog_report.BacklogRow(
                    run.key, run.label, metrics, run.peak_rss_kib, per_job, problem
                )
            )
            contender_records.append(_record(run, metrics, problem))
            runs.append(run)
        by_ratio.append((ratio, rows))
        records.append(
            {
                "ratio": ratio,
                "submit_quota": regime.submit_quota,
                "status_quota": regime.status_quota(ratio),
                "contenders": contender_records,
            }
        )
    head = backlog_report.header(regime, plan.seed, workload.kind, audio_hours, plan.serial)
    notes = [n for n in (_retry_after_note(runs),) if n]
    text = backlog_report.render(head, regime, by_ratio, notes)
    await asyncio.to_thread(_write_json, plan, workload, head, records)
    for path in plan.chart_paths:
        await asyncio.to_thread(_draw, by_ratio, regime, path)
        say(f"backlog chart written to {path}")
    return text, any(r.problem for _, rows in by_ratio for r in rows)


def _draw(
    by_ratio: Sequence[tuple[float, Sequence[backlog_report.BacklogRow]]],
    regime: BacklogRegime,
    path: Path,
) -> None:
    panels = [
        chart.Panel(
            ratio=ratio,
            budget=regime.status_quota(ratio) / regime.submit_quota,
            points=tuple(
                chart.Point(
                    label=row.label,
                    checks_per_job=row.metrics.checks_per_job,
                    lag_share_p50=row.metrics.lag_share_p50,
                    ours=row.key == contenders.ORCHESTRATOR_KEY,
                    note=(
                        f"gave up on {row.metrics.never_seen_done}"
                        if row.metrics.never_seen_done
                        else ""
                    ),
                )
                for row in rows
            ),
        )
        for ratio, rows in by_ratio
    ]
    title = (
        f"Backlog {regime.depth:g} windows deep ({regime.jobs} jobs, {regime.submit_quota} "
        f"submissions per window), noise sigma {regime.processing_noise:g}, "
        f"{regime.max_concurrent} processed at once"
    )
    chart.draw(panels, title, path)


def _write_json(
    plan: BacklogRun, workload: Workload, head: list[str], records: list[dict[str, Any]]
) -> None:
    regime = plan.regime
    document = {
        "header": head,
        "seed": plan.seed,
        "regime": {**asdict(regime), "jobs": regime.jobs, "window_wall_s": regime.window_wall_s},
        "workload": {
            "kind": workload.kind,
            "files": len(workload.files),
            "min_s": workload.min_s,
            "max_s": workload.max_s,
            "audio_seconds": workload.audio_seconds,
            "durations_s": [f.duration_s for f in workload.files],
        },
        "schedules": {s.key: s.source for s in schedules.BACKLOG_BASELINES},
        "throttle_backoff": asdict(schedules.THROTTLE_BACKOFF),
        "ratios": records,
    }
    plan.json_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = plan.json_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, indent=1), "utf-8")
    tmp.replace(plan.json_path)
