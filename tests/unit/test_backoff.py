from __future__ import annotations

import pytest

from orchestrator.core.backoff import RetryPolicy, backoff_delay, retry_at, should_give_up


def test_delay_is_full_jitter_of_an_exponential_ceiling() -> None:
    policy = RetryPolicy(base_delay_s=2.0, max_delay_s=300.0)
    assert backoff_delay(1, policy, 0.5) == 1.0
    assert backoff_delay(2, policy, 0.5) == 2.0
    assert backoff_delay(3, policy, 0.5) == 4.0
    assert backoff_delay(4, policy, 0.25) == 4.0
    # Full jitter: the whole range down to zero is possible.
    assert backoff_delay(5, policy, 0.0) == 0.0


def test_delay_is_capped_even_for_absurd_attempts() -> None:
    policy = RetryPolicy(base_delay_s=2.0, max_delay_s=300.0)
    assert backoff_delay(9, policy, 0.999) == pytest.approx(299.7)
    assert backoff_delay(10_000, policy, 0.5) == 150.0


def test_ceiling_grows_monotonically_up_to_the_cap() -> None:
    policy = RetryPolicy()
    ceilings = [backoff_delay(a, policy, 0.999999) for a in range(1, 20)]
    assert ceilings == sorted(ceilings)
    assert max(ceilings) <= policy.max_delay_s


@pytest.mark.parametrize("rand", [-0.1, 1.0, 2.0])
def test_rand_outside_unit_interval_is_refused(rand: float) -> None:
    with pytest.raises(ValueError, match="rand"):
        backoff_delay(1, RetryPolicy(), rand)


def test_retry_after_is_a_lower_bound() -> None:
    policy = RetryPolicy(base_delay_s=2.0, max_delay_s=300.0)
    assert retry_at(1000.0, 3, policy, 0.5, None) == 1004.0
    assert retry_at(1000.0, 3, policy, 0.5, 60.0) == 1060.0
    # A Retry-After shorter than the backoff does not shorten it.
    assert retry_at(1000.0, 3, policy, 0.5, 1.0) == 1004.0
    # Not capped: retrying before the server asked only earns another 429.
    assert retry_at(1000.0, 1, policy, 0.5, 3600.0) == 4600.0


def test_give_up_after_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert [should_give_up(a, policy) for a in range(1, 5)] == [False, False, True, True]


def test_bad_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
