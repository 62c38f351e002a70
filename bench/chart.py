"""The backlog chart: median lag as a share of processing against checks per job.

One panel per ratio of status checks to submissions, one point per contender (the
orchestrator a star), lower and further left is better. The dashed line is the budget
(status quota / submission quota): in steady state a contender to its right must be
refused, and pays for it in lag. The lag axis is logarithmic, since a throttled poller's
lag is whole quota windows. matplotlib (the ``bench`` extra) is imported only when a
chart is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.regimes import ratio_label

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# Plotted where a share is missing or zero, so that every contender appears.
_FLOOR_SHARE = 1e-3


@dataclass(frozen=True)
class Point:
    """One contender at one ratio."""

    label: str
    checks_per_job: float
    lag_share_p50: float | None
    ours: bool = False
    note: str = ""  # written beside the point (e.g. how many jobs the tool gave up on)


@dataclass(frozen=True)
class Panel:
    """One ratio's points."""

    ratio: float
    budget: float  # status checks per job the quotas allow in steady state
    points: tuple[Point, ...]


def draw(panels: Sequence[Panel], title: str, path: Path) -> Path:
    """Write the chart as a PNG at ``path`` (parents created); the path."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display, whatever the environment says
    from matplotlib import pyplot as plt

    labels = list(dict.fromkeys(p.label for panel in panels for p in panel.points))
    colours = plt.get_cmap("tab10")
    style = {label: colours(i % 10) for i, label in enumerate(labels)}
    fig, axes = plt.subplots(
        1, len(panels), figsize=(5.6 * len(panels) + 2.6, 4.8), squeeze=False, sharey=True
    )
    try:
        for ax, panel in zip(axes[0], panels, strict=True):
            _draw_panel(ax, panel, style)
        axes[0][0].set_ylabel("median lag, share of the job's processing time (log)")
        handles, names = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, names, loc="center right", fontsize=8, frameon=False)
        fig.suptitle(title, fontsize=10)
        fig.tight_layout(rect=(0.0, 0.0, 1.0 - 2.4 / fig.get_figwidth(), 1.0))
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)
    return path


def _draw_panel(ax: Axes, panel: Panel, style: dict[str, Any]) -> None:
    """One ratio's points, its budget line and its axes."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for point in panel.points:
        y = max(point.lag_share_p50 or 0.0, _FLOOR_SHARE) * 100.0
        ax.scatter(
            [max(point.checks_per_job, 0.0)],
            [y],
            s=160 if point.ours else 60,
            marker="*" if point.ours else "o",
            color=style[point.label],
            edgecolors="black",
            linewidths=0.5,
            label=point.label,
            zorder=3,
        )
        if point.note:
            ax.annotate(
                point.note,
                (max(point.checks_per_job, 0.0), y),
                xytext=(7, -3),
                textcoords="offset points",
                fontsize=7,
                color=style[point.label],
            )
    ax.axvline(panel.budget, linestyle="--", color="grey", linewidth=1)
    ax.annotate(
        f"budget: {panel.budget:g} checks/job",
        (panel.budget, 0.0),
        xycoords=("data", "axes fraction"),
        xytext=(4, 6),
        textcoords="offset points",
        fontsize=8,
        color="grey",
    )
    widest = max([panel.budget, *(p.checks_per_job for p in panel.points)])
    ax.set_xlim(0.0, widest * 1.15)
    ax.set_yscale("log")
    # 1, 2, 5 per decade: a decade or two of lag needs more than its powers of ten.
    ax.yaxis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}%"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_title(f"status checks : submissions = {ratio_label(panel.ratio)}", fontsize=10)
    ax.set_xlabel("status checks per job")
    ax.grid(True, which="major", linewidth=0.4)
