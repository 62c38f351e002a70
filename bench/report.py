"""The printed result: absolute figures per contender, then each baseline's ratio (pure)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.metrics import Metrics


@dataclass(frozen=True)
class Row:
    """One contender's line."""

    label: str
    metrics: Metrics
    peak_rss_kib: int | None
    problem: str | None = None
    cpu_ms_per_job: float | None = None


def _num(value: float | None, digits: int, unit: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def _mib(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.0f} MiB"


def ratio(baseline: float | None, ours: float | None) -> str:
    """``baseline / ours`` as "8.7x"; "+N" when ours is 0, "=" when both are 0."""
    if baseline is None or ours is None:
        return "-"
    if ours == 0:
        return "=" if baseline == 0 else f"+{baseline:g}"
    value = baseline / ours
    return f"{value:.2f}x" if value < 10 else f"{value:.0f}x"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Aligned plain-text columns: the first left-aligned, the others right-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        parts = [cells[0].ljust(widths[0])]
        parts += [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join(parts).rstrip()

    return [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


_ABSOLUTE = (
    "contender",
    "checks/job",
    "s/check",
    "lag p50",
    "lag p90",
    "lag max",
    "429s",
    "submits/job",
    "wall",
    "CPU/job",
    "peak RSS",
)


def _absolute(row: Row) -> list[str]:
    m = row.metrics
    return [
        row.label + (" (!)" if row.problem else ""),
        _num(m.checks_per_job, 2),
        _num(m.seconds_per_check, 1, " s"),
        _num(m.lag_p50_s, 1, " s"),
        _num(m.lag_p90_s, 1, " s"),
        _num(m.lag_max_s, 1, " s"),
        str(m.throttled),
        _num(m.submissions_per_job, 2),
        _num(m.wall_h, 3, " h"),
        _num(row.cpu_ms_per_job, 1, " ms"),
        _mib(row.peak_rss_kib),
    ]


_RATIOS: tuple[tuple[str, Callable[[Row], float | None]], ...] = (
    ("checks/job", lambda r: r.metrics.checks_per_job),
    ("lag p50", lambda r: r.metrics.lag_p50_s),
    ("lag p90", lambda r: r.metrics.lag_p90_s),
    ("429s", lambda r: float(r.metrics.throttled)),
    ("submits/job", lambda r: r.metrics.submissions_per_job),
    ("wall", lambda r: r.metrics.wall_h),
    ("CPU/job", lambda r: r.cpu_ms_per_job),
    ("peak RSS", lambda r: None if r.peak_rss_kib is None else float(r.peak_rss_kib)),
)


def render(header: Sequence[str], ours: Row, baselines: Sequence[Row]) -> str:
    """The whole report: header lines, the absolute table, the ratio table, problems."""
    lines = [*header, ""]
    lines += table(_ABSOLUTE, [_absolute(r) for r in (ours, *baselines)])
    lines += [
        "",
        f"baseline / {ours.label} (above 1: the baseline spends or waits that many times "
        "more; lower is better in every column)",
    ]
    lines += table(
        ("baseline", *(name for name, _ in _RATIOS)),
        [[b.label, *(ratio(get(b), get(ours)) for _, get in _RATIOS)] for b in baselines],
    )
    lines.append("")
    o = ours.metrics
    for b in baselines:
        m = b.metrics
        lines.append(
            f"{b.label}: checks/job {m.checks_per_job:.2f} vs {o.checks_per_job:.2f} -> "
            f"{ratio(m.checks_per_job, o.checks_per_job)}; lag p50 "
            f"{_num(m.lag_p50_s, 1, ' s')} vs {_num(o.lag_p50_s, 1, ' s')}; "
            f"429s {m.throttled} vs {o.throttled}"
        )
    problems = [r for r in (ours, *baselines) if r.problem]
    if problems:
        lines += ["", "(!) not to be trusted:"]
        lines += [f"  {r.label}: {r.problem}" for r in problems]
    return "\n".join(lines)
