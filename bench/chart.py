"""The backlog chart: median lag as a share of processing against checks per job.

One panel per ratio of status checks to submissions, one point per contender. The
dashed line is the budget (status quota / submission quota): in steady state a
contender to its right must be refused, and pays for it in lag. Both axes are
logarithmic, since a throttled poller's lag is whole quota windows. matplotlib (the
``bench`` extra) is imported only when a chart is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.regimes import ratio_label

# Plotted where a value is missing or zero, so that every contender appears.
_FLOOR_SHARE = 1e-3
_FLOOR_CHECKS = 0.1


@dataclass(frozen=True)
class Point:
    """One contender at one ratio."""

    label: str
    checks_per_job: float
    lag_share_p50: float | None
    ours: bool = False


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

    fig, axes = plt.subplots(
        1, len(panels), figsize=(6.4 * len(panels), 5.2), squeeze=False, sharey=True
    )
    try:
        for ax, panel in zip(axes[0], panels, strict=True):
            for point in panel.points:
                x = max(point.checks_per_job, _FLOOR_CHECKS)
                y = max(point.lag_share_p50 or 0.0, _FLOOR_SHARE) * 100.0
                ax.scatter(
                    [x],
                    [y],
                    s=70 if point.ours else 40,
                    marker="*" if point.ours else "o",
                    color="tab:red" if point.ours else "tab:blue",
                    zorder=3,
                )
                ax.annotate(
                    point.label,
                    (x, y),
                    textcoords="offset points",
                    xytext=(6, 4),
                    fontsize=8,
                    fontweight="bold" if point.ours else "normal",
                )
            ax.axvline(panel.budget, linestyle="--", color="grey", linewidth=1)
            ax.annotate(
                f"budget {panel.budget:g}/job",
                (panel.budget, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(3, -12),
                textcoords="offset points",
                fontsize=8,
                color="grey",
            )
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(f"status checks : submissions = {ratio_label(panel.ratio)}")
            ax.set_xlabel("status checks per job (log)")
            ax.grid(True, which="both", linewidth=0.3)
        axes[0][0].set_ylabel("median lag, % of the job's processing time (log)")
        fig.suptitle(title, fontsize=10)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)
    return path
