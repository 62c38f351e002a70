"""The printed backlog result: what was measured, then one table per quota ratio (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.backlog import BacklogMetrics
from bench.regimes import BacklogRegime, ratio_label
from bench.report import table
from bench.schedules import BACKLOG_BASELINES, THROTTLE_BACKOFF

# The median of a run's paces is within a few percent of 1 when the emulator keeps time
# (log-normal noise of sigma 0.25 over 175 jobs); this much above 1, it did not.
SLOW_SERVICE = 1.10


@dataclass(frozen=True)
class BacklogRow:
    """One contender's line at one ratio."""

    key: str
    label: str
    metrics: BacklogMetrics
    peak_rss_kib: int | None
    cpu_ms_per_job: float | None
    problem: str | None = None


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _num(value: float | None, digits: int, unit: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} s" if value < 100 else f"{value:.0f} s"


def _mib(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.0f} MiB"


_COLUMNS = (
    "contender",
    "quota share",
    "makespan",
    "x limit",
    "checks/job",
    "lag p50",
    "lag p95",
    "lag/proc p50",
    "lag/proc p95",
    "429s",
    "gave up",
    "CPU/job",
    "peak RSS",
)


def _cells(row: BacklogRow) -> list[str]:
    m = row.metrics
    makespan = None if m.makespan_s is None else m.makespan_s / 3600.0
    x_limit = m.makespan_vs_limit
    return [
        row.label + (" (!)" if row.problem else ""),
        _pct(m.steady_quota_share),
        _num(makespan, 2, " h"),
        _num(x_limit, 2, "x"),
        _num(m.checks_per_job, 2),
        _seconds(m.lag_p50_s),
        _seconds(m.lag_p95_s),
        _pct(m.lag_share_p50),
        _pct(m.lag_share_p95),
        str(m.throttled),
        str(m.never_seen_done),
        _num(row.cpu_ms_per_job, 1, " ms"),
        _mib(row.peak_rss_kib),
    ]


def header(
    regime: BacklogRegime, seed: int, workload_kind: str, audio_hours: float, serial: bool
) -> list[str]:
    """The lines that say what the backlog regime measured."""
    window = regime.window_wall_s
    together = (
        "every contender ran alone"
        if serial
        else "the orchestrator ran alone, then the baselines side by side"
    )
    return [
        f"BACKLOG regime: {regime.jobs} {workload_kind}, {regime.min_s:g}-{regime.max_s:g} s "
        f"log-uniform ({audio_hours:.1f} audio hours), {regime.depth:g} submission windows "
        f"deep; emulator speed x{regime.speed:g}, seed {seed}",
        f"quotas per window of {window:g} s wall (one service hour): {regime.submit_quota} "
        "submissions, and status checks at "
        + " and ".join(f"{ratio_label(r)} ({regime.status_quota(r)})" for r in regime.ratios)
        + f"; processing noise log-normal sigma {regime.processing_noise:g}"
        + (f", {regime.overhead_s:g} s per operation" if regime.overhead_s else "")
        + "; the emulator "
        f"processes {regime.max_concurrent} operations at once, the rest queue",
        f"{together}, each against its own fresh S3 server and emulator",
        "baselines submit in order as fast as answers come; a 429 waits its Retry-After, "
        f"else {THROTTLE_BACKOFF.base_s:g} s x{THROTTLE_BACKOFF.factor:g} per consecutive "
        f"429 up to {THROTTLE_BACKOFF.cap_s:g} s, full jitter (service time)",
        "quota share = submissions / quota in the steady windows (all but the first and "
        "the last, counted from the first submission)",
        "makespan = first submission -> last job seen done; x limit = makespan / (window "
        "start of the last job, floor((jobs - 1) / quota) windows, + its processing time); "
        "'-' when a job was never seen done",
        "lag = done on the server -> first check that saw it; lag/proc = lag / that job's "
        "processing time (start of processing -> done; queueing excluded); gave up = jobs "
        "done but never seen done",
        "CPU/job = user+sys CPU of the contender's process tree / jobs; peak RSS = its VmHWM; "
        "every other figure comes from the emulator's counters; times are SERVICE time "
        f"(wall x {regime.speed:g})",
    ]


def sources() -> list[str]:
    """Where each baseline's behaviour comes from."""
    return [f"  {s.label}: {s.source}" for s in BACKLOG_BASELINES]


def render_ratio(regime: BacklogRegime, ratio: float, rows: Sequence[BacklogRow]) -> list[str]:
    """One ratio's table, its budget line, and its problems."""
    lines = [
        "",
        f"status checks : submissions = {ratio_label(ratio)} ({regime.submit_quota} "
        f"submissions, {regime.status_quota(ratio)} status checks per window: a budget of "
        f"{regime.status_quota(ratio) / regime.submit_quota:.2f} checks per job)",
    ]
    lines += table(_COLUMNS, [_cells(r) for r in rows])
    slow = [
        f"{r.label} {r.metrics.service_pace * 100 - 100:.0f}%"
        for r in rows
        if r.metrics.service_pace is not None and r.metrics.service_pace > SLOW_SERVICE
    ]
    if slow:
        lines.append(
            "(~) the emulator's processing ran slow (starved of CPU?), stretching every time "
            "in: " + ", ".join(slow)
        )
    problems = [r for r in rows if r.problem]
    if problems:
        lines.append("(!) not to be trusted:")
        lines += [f"  {r.label}: {r.problem}" for r in problems]
    return lines


def render(
    head: Sequence[str],
    regime: BacklogRegime,
    by_ratio: Sequence[tuple[float, Sequence[BacklogRow]]],
    notes: Sequence[str] = (),
) -> str:
    """The whole backlog report."""
    lines = [*head, "baselines' sources:", *sources()]
    for ratio, rows in by_ratio:
        lines += render_ratio(regime, ratio, rows)
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)
