"""Check schedules under a budget: the lag they reach against the best known figures."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from orchestrator.core.polling import (
    CompletionEstimator,
    PollingPolicy,
    first_poll_at,
    next_poll_at,
)
from orchestrator.core.schedule import expected_checks, plan_checks, relative_lags

RATIO = 10.0 / 60.0
KEY = ("v2", "general")


def sample(count: int, seed: int, sigma: float = 0.25) -> list[float]:
    rng = random.Random(seed)
    return [RATIO * rng.lognormvariate(0.0, sigma) for _ in range(count)]


LEARNED = sample(200, seed=1)  # what the estimator keeps: the last 200 exact ratios
FUTURE = sample(20_000, seed=2)  # the jobs the schedule is used for

# Budget -> the median lag (share of processing time) the best schedule reaches with
# log-normal noise of sigma 0.25 and a known distribution, plus a margin for learning it
# from 200 observations.
BEST = {1.1: 0.39, 1.5: 0.15, 2.0: 0.09, 3.0: 0.05, 5.0: 0.04}


@pytest.mark.parametrize(("budget", "best"), sorted(BEST.items()))
def test_the_planned_schedule_is_near_the_best_lag_within_the_budget(
    budget: float, best: float
) -> None:
    plan = plan_checks(LEARNED, budget)
    assert list(plan) == sorted(plan)
    assert expected_checks(plan, FUTURE) <= budget * 1.05
    assert statistics.median(relative_lags(plan, FUTURE)) <= best * 1.4 + 0.01


def test_more_budget_never_costs_lag() -> None:
    medians = [
        statistics.median(relative_lags(plan_checks(LEARNED, b), FUTURE))
        for b in (1.1, 1.5, 2.0, 3.0, 5.0)
    ]
    assert medians == sorted(medians, reverse=True)


def test_the_last_check_covers_the_sample_and_budgets_are_clamped() -> None:
    plan = plan_checks(LEARNED, 3.0)
    assert plan[-1] == max(LEARNED)
    # No plan from nothing; a budget below one check per job still plans one.
    assert plan_checks([], 3.0) == ()
    assert len(plan_checks(LEARNED, 0.2)) >= 1
    assert plan_checks(LEARNED, 1000.0) == plan_checks(LEARNED, 8.0)
    # Garbage in the sample is ignored, not a crash.
    assert plan_checks([math.nan, -1.0, 0.0, *LEARNED[:20]], 2.0)


def test_polls_follow_the_plan_then_fall_back_to_growing_intervals() -> None:
    est = CompletionEstimator(quantile=0.9, initial_ratio=RATIO)
    policy = PollingPolicy(min_interval_s=0.5)
    # Before enough exact observations: one check at the estimate, as without a budget.
    assert first_poll_at(0.0, 60.0, est, KEY, budget=3.0) == first_poll_at(0.0, 60.0, est, KEY)
    for ratio in LEARNED:
        est.observe_exact(KEY, audio_s=60.0, processing_s=ratio * 60.0)
    plan = est.schedule(KEY, 3.0)
    assert len(plan) >= 3
    assert first_poll_at(0.0, 60.0, est, KEY, budget=3.0) == pytest.approx(plan[0] * 60.0)
    # Each check after the last one that found the job running: the plan's next.
    times = [plan[0] * 60.0]
    for polls in range(1, len(plan)):
        times.append(next_poll_at(0.0, times[-1], polls, 60.0, est, KEY, policy, budget=3.0))
    assert times == pytest.approx([r * 60.0 for r in plan])
    # Past the plan (the job outran every sample): growing intervals from the last check.
    gaps = []
    last = times[-1]
    for polls in range(len(plan), len(plan) + 4):
        nxt = next_poll_at(0.0, last, polls, 60.0, est, KEY, policy, budget=3.0)
        gaps.append(nxt - last)
        last = nxt
    assert gaps == sorted(gaps)
    assert gaps[0] >= policy.min_interval_s


def test_a_check_delayed_past_its_plan_skips_to_the_next_point() -> None:
    est = CompletionEstimator(quantile=0.9, initial_ratio=RATIO)
    for ratio in LEARNED:
        est.observe_exact(KEY, audio_s=60.0, processing_s=ratio * 60.0)
    plan = est.schedule(KEY, 5.0)
    policy = PollingPolicy(min_interval_s=0.5)
    # The first check was held back (a full quota) until after the plan's third point.
    late = plan[2] * 60.0 + 0.1
    nxt = next_poll_at(0.0, late, 1, 60.0, est, KEY, policy, budget=5.0)
    assert nxt == pytest.approx(plan[3] * 60.0) or nxt >= late + policy.min_interval_s
    assert nxt > late


def test_the_plan_is_kept_between_observations_and_made_again_as_they_come() -> None:
    est = CompletionEstimator(quantile=0.9, initial_ratio=RATIO)
    for ratio in LEARNED[:100]:
        est.observe_exact(KEY, audio_s=60.0, processing_s=ratio * 60.0)
    first = est.schedule(KEY, 3.0)
    assert est.schedule(KEY, 3.0) is first  # not planned again for nothing
    est.observe_exact(KEY, audio_s=60.0, processing_s=RATIO * 60.0)
    assert est.schedule(KEY, 3.0) is first  # one observation changes little
    for ratio in sample(100, seed=3, sigma=0.5):
        est.observe_exact(KEY, audio_s=60.0, processing_s=ratio * 60.0)
    assert est.schedule(KEY, 3.0) != first
    assert est.schedule(KEY, 2.0) != est.schedule(KEY, 3.0)
