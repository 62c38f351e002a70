"""When to check one operation, given what processing times look like and how many checks
a job may cost (sans-I/O).

The service finishes a job at some time ``T`` (processing seconds per audio second, drawn
from a distribution learned from the finished operations); a check at ``c >= T`` sees it done
with a lag of ``c - T``. A schedule ``c_1 < c_2 < ...`` costs ``1 + P(T > c_1) + P(T > c_2) +
...`` checks per job on average (a check is only made while the job runs) and its lag is
``c_i - T`` for the first ``c_i >= T``. With budget for one check per job the best is a
single late check; with more, earlier and denser ones. For log-normal noise of sigma 0.25 the
best median lag is about 39% of the processing time at 1.1 checks per job, 15% at 1.5, 9% at
2 and 3-5% at 3-5.

``plan_checks`` finds the schedule minimising the expected lag as a share of the processing
time under the budget: a dynamic programme over the learned sample (compressed to a few
dozen quantiles), with a Lagrange multiplier on the checks, bisected to meet the budget.
Checking at a sample point is optimal for a sample (moving a check down to the nearest
point below catches the same jobs sooner), and the last check sits at the sample's maximum;
a job that outruns it falls back to growing intervals (``polling.next_poll_at``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# The sample is compressed to at most this many equally likely points: enough for a
# schedule of a handful of checks, cheap to plan (points ** 2 per multiplier tried).
POINTS = 60
# Budgets are clamped to this range: at least the single late check plus its retries, and
# no denser than a check every few percent of the processing time.
MIN_BUDGET = 1.05
MAX_BUDGET = 8.0
_BISECT_STEPS = 24


def _points(ratios: Sequence[float], count: int) -> list[float]:
    """``count`` quantiles of the sample (midpoints of equal-probability bins), the last one
    its maximum, so that the plan's last check covers every job seen so far."""
    ordered = sorted(r for r in ratios if r > 0 and math.isfinite(r))
    n = len(ordered)
    if n <= count:
        return ordered
    points = [ordered[min(n - 1, int((i + 0.5) * n / count))] for i in range(count)]
    points[-1] = ordered[-1]
    return points


def _plan(points: Sequence[float], price: float) -> tuple[list[int], float]:
    """The schedule (indices into ``points``) minimising relative lag + ``price`` per check,
    and its expected number of checks. Every point is equally likely."""
    m = len(points)
    w = 1.0 / m
    # prefix[k] = sum of w / x over the first k points: the lag of jobs finishing at points
    # a..b checked at x_b is x_b * (inv[b+1] - inv[a]) - w * (b + 1 - a).
    inv = [0.0]
    for x in points:
        inv.append(inv[-1] + w / x)
    best = [math.inf] * (m + 1)  # best[s + 1]: cost from "last check at point s"
    nxt = [m - 1] * (m + 1)
    best[m] = 0.0  # after a check at the last point, every job is seen
    for s in range(m - 2, -2, -1):
        alive = (m - 1 - s) * w  # the chance the job still runs after the check at s
        for j in range(s + 1, m):
            lag = points[j] * (inv[j + 1] - inv[s + 1]) - w * (j - s)
            cost = price * alive + lag + best[j + 1]
            if cost < best[s + 1]:
                best[s + 1], nxt[s + 1] = cost, j
    chosen, checks, s = [], 0.0, -1
    while s < m - 1:
        checks += (m - 1 - s) * w
        s = nxt[s + 1]
        chosen.append(s)
    return chosen, checks


def plan_checks(ratios: Sequence[float], budget: float, points: int = POINTS) -> tuple[float, ...]:
    """Check times (processing seconds per audio second, ascending) that minimise the
    expected lag relative to the processing time, spending at most ``budget`` checks per
    job on average. Empty when the sample is empty."""
    sample = _points(ratios, points)
    if not sample:
        return ()
    budget = min(MAX_BUDGET, max(MIN_BUDGET, budget))
    # A higher price per check gives fewer checks: find the lowest price within the budget.
    low, high = 0.0, 1.0
    while _plan(sample, high)[1] > budget and high < 1e9:
        high *= 4.0
    plan = _plan(sample, high)[0]
    for _ in range(_BISECT_STEPS):
        mid = (low + high) / 2.0
        chosen, checks = _plan(sample, mid)
        if checks <= budget:
            high, plan = mid, chosen
        else:
            low = mid
    return tuple(sample[i] for i in plan)


def expected_checks(schedule: Sequence[float], ratios: Sequence[float]) -> float:
    """Checks per job a schedule costs on a sample (those past the last check not counted)."""
    n = len(ratios)
    if not schedule or not n:
        return 0.0
    return 1.0 + sum(sum(1 for r in ratios if r > c) / n for c in schedule[:-1])


def relative_lags(schedule: Sequence[float], ratios: Sequence[float]) -> list[float]:
    """Each sample job's lag as a share of its processing time (inf past the last check)."""
    lags = []
    for r in ratios:
        seen = next((c for c in schedule if c >= r), None)
        lags.append(math.inf if seen is None else (seen - r) / r)
    return lags
