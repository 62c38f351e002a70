from __future__ import annotations

import bisect
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.core.quota import (
    MIN_PAUSE_S,
    Pause,
    QuotaSpec,
    fit_amounts,
    grant,
    next_allowed,
    next_allowed_amount,
    pause_after_429,
    prune_before,
    strike_backoff,
    usage,
    usage_amount,
)


def max_in_any_window(times: list[float], window: float) -> int:
    """The most requests inside any half-open window [a, a + window)."""
    ordered = sorted(times)
    # The busiest window can always be slid to start at a request.
    best = 0
    for i, t in enumerate(ordered):
        j = bisect.bisect_left(ordered, t + window)
        best = max(best, j - i)
    return best


def test_effective_limit_keeps_the_margin() -> None:
    assert QuotaSpec(500, 3600.0, 0.02).effective_limit == 490
    assert QuotaSpec(100, 60.0, 0.01).effective_limit == 99
    assert QuotaSpec(2500, 3600.0).effective_limit == 2500
    # Never zero, or nothing could ever be sent.
    assert QuotaSpec(1, 60.0, 0.5).effective_limit == 1


@pytest.mark.parametrize(
    ("limit", "window", "margin"), [(0, 60.0, 0.0), (5, 0.0, 0.0), (5, 60.0, 1.0), (5, 60.0, -0.1)]
)
def test_bad_specs_are_refused(limit: int, window: float, margin: float) -> None:
    with pytest.raises(ValueError, match="quota"):
        QuotaSpec(limit, window, margin)


def test_empty_ledger_allows_now() -> None:
    spec = QuotaSpec(3, 10.0)
    assert next_allowed([], spec, 100.0) == 100.0
    assert grant([], spec, 100.0, 5) == 3
    assert usage([], spec, 100.0) == (0, 3)


def test_full_window_waits_for_the_oldest_to_expire() -> None:
    spec = QuotaSpec(3, 10.0)
    spent = [100.0, 101.0, 102.0]
    assert next_allowed(spent, spec, 103.0) == 110.0
    assert grant(spent, spec, 109.999, 1) == 0
    assert grant(spent, spec, 110.0, 5) == 1
    assert usage(spent, spec, 105.0) == (3, 0)


def test_expired_entries_are_ignored_and_order_does_not_matter() -> None:
    spec = QuotaSpec(2, 10.0)
    spent = [105.0, 50.0, 60.0, 99.0]  # 50 and 60 are long expired
    assert usage(spent, spec, 106.0) == (2, 0)
    assert next_allowed(spent, spec, 106.0) == 109.0


def test_future_entries_count_until_they_expire() -> None:
    # Another daemon's clock runs a little ahead: its spend still counts in full.
    spec = QuotaSpec(1, 10.0)
    assert next_allowed([102.0], spec, 100.0) == 112.0
    assert grant([102.0], spec, 100.0, 1) == 0


def test_no_double_burst_across_a_window_boundary() -> None:
    # aiolimiter's flaw: a full bucket spent at the end of one window and refilled at the
    # start of the next lets 2x through within one window. The ledger refuses it.
    spec = QuotaSpec(5, 60.0)
    spent = [59.0] * 5
    assert grant(spent, spec, 60.5, 5) == 0
    assert next_allowed(spent, spec, 60.5) == 119.0


def test_grant_is_consistent_with_next_allowed() -> None:
    rng = random.Random(7)
    spec = QuotaSpec(4, 30.0)
    for _ in range(200):
        spent = sorted(rng.uniform(0, 100) for _ in range(rng.randint(0, 12)))
        now = rng.uniform(50, 150)
        at = next_allowed(spent, spec, now)
        assert at >= now
        assert grant(spent, spec, at, 1) == 1
        if at > now:
            assert grant(spent, spec, now, 1) == 0


def test_pause_blocks_until_its_deadline() -> None:
    spec = QuotaSpec(10, 60.0)
    assert next_allowed([], spec, 100.0, paused_until=130.0) == 130.0
    assert grant([], spec, 129.0, 3, paused_until=130.0) == 0
    assert grant([], spec, 130.0, 3, paused_until=130.0) == 3
    # A past pause changes nothing.
    assert next_allowed([], spec, 100.0, paused_until=90.0) == 100.0


def pause(now: float, current: Pause | None, retry_after: float | None = None) -> Pause:
    return pause_after_429(
        now, current=current, retry_after_s=retry_after, base_s=2.0, max_s=30.0, memory_s=10.0
    )


def test_pause_after_429_prefers_retry_after_and_never_shortens() -> None:
    assert pause(100.0, None, retry_after=30.0) == Pause(130.0, 1)
    assert pause(100.0, None) == Pause(102.0, 1)
    assert pause(100.0, Pause(200.0, 1), retry_after=30.0) == Pause(200.0, 1)
    assert pause(100.0, Pause(120.0, 1), retry_after=30.0) == Pause(130.0, 1)


def test_429s_of_a_burst_sent_before_the_pause_add_no_strike() -> None:
    first = pause(100.0, None)
    assert [pause(100.5, first), pause(101.9, first)] == [first, first]


def test_without_retry_after_each_429_in_a_row_pauses_longer_up_to_the_cap() -> None:
    now, current, waits = 100.0, None, []
    for _ in range(7):
        current = pause(now, current)
        waits.append(current.until - now)
        now = current.until + 0.1  # the next request, right after the pause: another 429
    assert waits == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert current is not None
    assert current.strikes == 7


def test_a_429_long_after_the_last_pause_starts_again_from_the_base() -> None:
    current = Pause(100.0, 5)  # a pause of 30 s (capped) ended at 100
    assert pause(129.0, current) == Pause(129.0 + 30.0, 6)  # within the last pause's length
    assert pause(131.0, current) == Pause(133.0, 1)  # served for longer than that: forgotten
    # The memory is at least the quota's window (10 s here).
    assert pause(109.0, Pause(100.0, 1)) == Pause(113.0, 2)
    assert pause(111.0, Pause(100.0, 1)) == Pause(113.0, 1)


def test_strike_backoff_has_a_floor() -> None:
    assert strike_backoff(1, 0.05, 10.0) == MIN_PAUSE_S
    assert strike_backoff(200, 2.0, 300.0) == 300.0


def test_prune_cutoff_keeps_every_live_entry() -> None:
    spec = QuotaSpec(2, 10.0)
    cutoff = prune_before(spec, 100.0)
    live = [s for s in [85.0, 90.5, 95.0, 99.0] if s + spec.window_s > 100.0]
    assert all(s >= cutoff for s in live)


def simulate_client(wants: list[float], spec: QuotaSpec) -> list[float]:
    """A client that sends each request as soon as the ledger allows, never earlier."""
    spent: list[float] = []
    clock = 0.0
    for want in sorted(wants):
        clock = max(clock, want)
        clock = next_allowed(spent, spec, clock)
        assert grant(spent, spec, clock, 1) == 1
        spent.append(clock)
    return spent


@settings(max_examples=150, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=8),
    window=st.floats(min_value=0.01, max_value=5000.0),
    margin=st.sampled_from([0.0, 0.02, 0.3]),
    wants=st.lists(st.floats(min_value=0.0, max_value=20_000.0), min_size=1, max_size=60),
)
def test_property_no_window_ever_exceeds_the_limit(
    limit: int, window: float, margin: float, wants: list[float]
) -> None:
    spec = QuotaSpec(limit, window, margin)
    spent = simulate_client(wants, spec)
    assert len(spent) == len(wants)
    assert max_in_any_window(spent, window) <= spec.effective_limit


def test_saturating_client_uses_the_whole_quota_and_no_more() -> None:
    spec = QuotaSpec(7, 10.0)
    spent = simulate_client([0.0] * 100, spec)
    assert max_in_any_window(spent, 10.0) == 7
    # Not wasteful either: 100 requests take exactly 14 full windows plus a partial one.
    assert spent[-1] == 140.0


def test_weighted_quota_waits_for_enough_to_expire() -> None:
    spec = QuotaSpec(100, 10.0)
    spent = [(0.0, 40.0), (1.0, 40.0), (2.0, 10.0)]
    assert usage_amount(spent, spec, 5.0) == (90.0, 10.0)
    assert next_allowed_amount(spent, spec, 5.0, 10.0) == 5.0
    assert next_allowed_amount(spent, spec, 5.0, 30.0) == 10.0
    assert next_allowed_amount(spent, spec, 5.0, 60.0) == 11.0
    with pytest.raises(ValueError, match="exceeds"):
        next_allowed_amount(spent, spec, 5.0, 101.0)


@settings(max_examples=100, deadline=None)
@given(
    amounts=st.lists(st.floats(min_value=0.5, max_value=50.0), min_size=1, max_size=40),
    gaps=st.lists(st.floats(min_value=0.0, max_value=30.0), min_size=40, max_size=40),
)
def test_property_weighted_windows_stay_within_limit(
    amounts: list[float], gaps: list[float]
) -> None:
    spec = QuotaSpec(100, 60.0)
    spent: list[tuple[float, float]] = []
    clock = 0.0
    for amount, gap in zip(amounts, gaps, strict=False):
        clock = next_allowed_amount(spent, spec, clock + gap, amount)
        spent.append((clock, amount))
    for start, _ in spent:
        inside = sum(w for s, w in spent if start <= s < start + spec.window_s)
        assert inside <= spec.effective_limit + 1e-9


def test_fit_amounts_takes_the_prefix_that_fits_and_says_when_the_next_does() -> None:
    spec = QuotaSpec(limit=100, window_s=10.0)
    spent = [(0.0, 50.0)]
    assert fit_amounts(spent, spec, 5.0, [30.0, 10.0, 20.0]) == (2, 10.0)
    # Nothing spent before: all fit; zero amounts cost nothing.
    assert fit_amounts([], spec, 5.0, [0.0, 60.0, 40.0]) == (3, None)
    # Larger than the whole limit: let through uncharged, the others still counted.
    assert fit_amounts([], spec, 5.0, [500.0, 100.0, 1.0]) == (2, 15.0)
    # A pause holds everything until it ends.
    assert fit_amounts([], spec, 5.0, [1.0], paused_until=8.0) == (0, 8.0)
    assert fit_amounts([], spec, 5.0, [], paused_until=8.0) == (0, None)
