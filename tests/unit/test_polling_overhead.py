"""The estimator under a service whose processing time has a fixed part per operation."""

from __future__ import annotations

import json
import math
import random
import statistics

import pytest

from orchestrator.core.polling import (
    CompletionEstimator,
    PollingPolicy,
    first_poll_at,
    fit_overhead,
    next_poll_at,
)
from orchestrator.core.schedule import plan_checks

KEY = ("v2", "general")
RATE = 10 / 60  # the reference's 10 s per audio minute


def durations(rng: random.Random, count: int) -> list[float]:
    """Log-uniform 2-240 s: many short files, a few long ones."""
    return [math.exp(rng.uniform(math.log(2.0), math.log(240.0))) for _ in range(count)]


def processing(rng: random.Random, audio: float, overhead: float) -> float:
    """The emulator's model: (overhead + rate x audio) x log-normal noise of sigma 0.25."""
    return (overhead + RATE * audio) * math.exp(rng.gauss(0.0, 0.25))


def learned(overhead: float, *, seed: int, jobs: int = 200) -> CompletionEstimator:
    """An estimator fed ``jobs`` exact observations."""
    rng = random.Random(seed)
    est = CompletionEstimator()
    for audio in durations(rng, jobs):
        est.observe_exact(KEY, audio_s=audio, processing_s=processing(rng, audio, overhead))
    return est


def done_at_first_check(est: CompletionEstimator, overhead: float, audio: float) -> float:
    """The share of jobs of ``audio`` seconds done by their first check."""
    rng = random.Random(99)
    first = first_poll_at(0.0, audio, est, KEY)
    return statistics.mean(processing(rng, audio, overhead) <= first for _ in range(2000))


def test_the_fit_finds_the_overhead_and_the_rate() -> None:
    for seed in range(5):
        est = learned(5.0, seed=seed)
        # The estimate is the 0.9 quantile: its parts exceed the medians by the noise's
        # quantile factor, exp(1.28 * 0.25) = 1.38.
        assert 5.0 * 1.1 < est.overhead(KEY) < 5.0 * 1.7
        assert RATE * 1.1 < est.ratio(KEY) < RATE * 1.7


def test_short_jobs_are_no_longer_checked_early() -> None:
    # 5 s of overhead: a 3 s clip takes 5.5 s, not the 0.5 s a pure ratio expects.
    est = learned(5.0, seed=1)
    for audio in (2.0, 3.0, 10.0, 60.0, 240.0):
        assert 0.8 <= done_at_first_check(est, 5.0, audio) <= 0.99
    # Today's learner, the 0.9 quantile of the same ratios times the audio, checks the
    # shortest clips early (nine in ten still running) and a 4-minute file minutes late.
    state = est.key_state(KEY)
    assert state is not None
    ordered = sorted(state["exact"])
    proportional = ordered[math.ceil(0.9 * (len(ordered) + 1)) - 1]
    rng = random.Random(99)
    early = statistics.mean(processing(rng, 2.0, 5.0) <= proportional * 2.0 for _ in range(2000))
    assert early < 0.2
    assert proportional * 240.0 > 5 * first_poll_at(0.0, 240.0, est, KEY)


def test_the_planned_schedule_is_in_seconds_of_the_fitted_unit() -> None:
    est = learned(5.0, seed=2)
    short, long = est.check_times(KEY, 3.0, 2.0), est.check_times(KEY, 3.0, 240.0)
    assert len(short) == len(long) > 1
    # Each check is a multiple of overhead + rate x audio: the short job's are not
    # 120 times closer to its submission than the long job's.
    assert long[0] / short[0] < 10.0
    assert first_poll_at(100.0, 2.0, est, KEY, 3.0) == pytest.approx(100.0 + short[0])
    policy = PollingPolicy(min_interval_s=0.01)
    later = next_poll_at(100.0, 100.0 + short[0], 1, 2.0, est, KEY, policy, 3.0)
    assert later == pytest.approx(100.0 + short[1])


@pytest.mark.parametrize("seed", range(8))
def test_without_an_overhead_the_estimates_are_todays(seed: int) -> None:
    est = learned(0.0, seed=seed)
    state = est.key_state(KEY)
    assert state is not None
    assert fit_overhead(state["exact"], state["audio"]) == (0.0, 1.0)
    assert est.overhead(KEY) == 0.0
    # Today's: the upper 0.9 quantile of the exact ratios, times the audio; its schedule
    # planned on the ratios themselves.
    ordered = sorted(state["exact"])
    today = ordered[min(len(ordered) - 1, math.ceil(0.9 * (len(ordered) + 1)) - 1)]
    assert est.ratio(KEY) == today
    assert est.predict(KEY, 75.0) == today * 75.0
    assert est.schedule(KEY, 3.0) == plan_checks(state["exact"], 3.0)
    assert est.check_times(KEY, 3.0, 75.0) == tuple(c * 75.0 for c in est.schedule(KEY, 3.0))


def test_one_length_alone_cannot_show_an_overhead() -> None:
    rng = random.Random(4)
    est = CompletionEstimator()
    for _ in range(50):
        est.observe_exact(KEY, audio_s=60.0, processing_s=processing(rng, 60.0, 5.0))
    assert est.overhead(KEY) == 0.0


def test_censored_observations_are_measured_in_the_fitted_unit() -> None:
    est = learned(5.0, seed=3)
    before = est.predict(KEY, 2.0)
    # A 2 s job found done at its first check, made at the estimate: the plain step down,
    # the same as a 200 s job's at its estimate (a ratio would call the short one slow).
    est.observe(KEY, submitted_at=0.0, audio_s=2.0, last_not_done_at=None, done_at=before)
    assert est.predict(KEY, 2.0) < before


def test_the_overhead_survives_the_store_and_old_states_still_load() -> None:
    est = learned(5.0, seed=5)
    state = est.key_state(KEY)
    assert state is not None
    back = CompletionEstimator()
    back.load_key_state(KEY, json.loads(json.dumps(state)))
    assert back.predict(KEY, 3.0) == est.predict(KEY, 3.0)
    assert back.overhead(KEY) == est.overhead(KEY) > 0
    snapshot = CompletionEstimator.from_dict(json.loads(json.dumps(est.to_dict())))
    assert snapshot.predict(KEY, 3.0) == est.predict(KEY, 3.0)
    # Stored before the audio was kept: the ratios load, as ratios of unknown audio.
    old = {key: state[key] for key in ("ratio", "observations", "early_run", "exact")}
    legacy = CompletionEstimator()
    legacy.load_key_state(KEY, old)
    assert legacy.ratio(KEY) == state["ratio"]
    assert legacy.overhead(KEY) == 0.0
    assert legacy.predict(KEY, 10.0) == state["ratio"] * 10.0
    legacy.observe_exact(KEY, audio_s=30.0, processing_s=10.0)
    again = legacy.key_state(KEY)
    assert again is not None
    assert len(again["audio"]) == len(again["exact"])
    assert again["audio"][-1] == 30.0
    assert again["audio"][0] == 0.0
