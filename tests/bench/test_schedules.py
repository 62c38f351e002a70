"""The baselines' schedules and the 429 backoff, as their sources describe them."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest

from bench.schedules import (
    BACKLOG_BASELINES,
    BASELINES,
    THROTTLE_BACKOFF,
    Backoff,
    Schedule,
    all_schedules,
    by_key,
    parse_retry_after,
    throttle_wait_s,
)


def delays(schedule: Schedule, count: int, audio_s: float = 60.0) -> list[float | None]:
    """The first ``count`` waits of a per-job schedule (its timer plays no part)."""
    return [schedule.delay_before(n, audio_s=audio_s, elapsed_s=0.0) for n in range(count)]


def test_docs_sample_checks_every_second_from_the_first() -> None:
    assert delays(by_key("docs"), 5) == [1.0] * 5


def test_ai_studio_sdk_checks_at_once_then_every_ten_seconds() -> None:
    assert delays(by_key("ai-studio-sdk"), 4) == [0.0, 10.0, 10.0, 10.0]


def test_speechkitty_waits_the_expected_time_then_ten_checks_three_seconds_apart() -> None:
    # 10 minutes of mono audio: 600 / 6 = 100 s, then 9 more checks, then it gives up.
    waits = delays(by_key("speechkitty"), 12, audio_s=600.0)
    assert waits[0] == pytest.approx(100.0)
    assert waits[1:10] == [3.0] * 9
    assert waits[10:] == [None, None]


def test_speechkitty_counts_every_channel() -> None:
    # The caller passes duration x channels: two channels of 300 s wait like 600 s.
    assert by_key("speechkitty").delay_before(0, audio_s=2 * 300.0, elapsed_s=0.0) == 100.0


def test_azure_ingestion_doubles_from_two_minutes_up_to_its_two_hour_cap() -> None:
    minutes = [d / 60 for d in delays(by_key("azure"), 10) if d is not None]
    assert minutes == [2, 2, 4, 8, 16, 32, 64, 120, 120, 120]


def test_google_api_core_grows_by_half_up_to_twenty_seconds() -> None:
    waits = delays(by_key("google"), 10)
    assert waits[:5] == pytest.approx([0.0, 1.0, 1.5, 2.25, 3.375])
    assert waits[-1] == 20.0


def test_the_serverless_timer_checks_at_the_next_minute_tick() -> None:
    serverless = by_key("serverless")
    # Submitted half a second after the timer started: checked at the first tick.
    assert serverless.delay_before(0, audio_s=600.0, elapsed_s=0.5) == pytest.approx(59.5)
    # A check made at a tick (and a little after it) waits for the next one.
    assert serverless.delay_before(3, audio_s=600.0, elapsed_s=120.0) == pytest.approx(60.0)
    assert serverless.delay_before(3, audio_s=600.0, elapsed_s=179.9) == pytest.approx(0.1)
    # The timer never gives up and does not care how long the audio is.
    assert serverless.delay_before(500, audio_s=1.0, elapsed_s=30.0) == pytest.approx(30.0)


def test_every_check_lands_on_a_tick_of_the_timer() -> None:
    serverless = by_key("serverless")
    elapsed = 7.25  # submitted then
    for check in range(5):
        wait = serverless.delay_before(check, audio_s=60.0, elapsed_s=elapsed)
        assert wait is not None
        elapsed += wait
        assert elapsed / 60.0 == pytest.approx(round(elapsed / 60.0))


def test_the_regimes_name_their_baselines_once_each() -> None:
    keys = [s.key for s in all_schedules()]
    assert len(keys) == len(set(keys))
    assert {s.key for s in BASELINES} | {s.key for s in BACKLOG_BASELINES} == set(keys)
    assert [s.key for s in BACKLOG_BASELINES] == [
        "docs",
        "ai-studio-sdk",
        "speechkitty",
        "azure",
        "serverless",
    ]
    with pytest.raises(KeyError):
        by_key("nobody")


@pytest.mark.parametrize(
    "fields",
    [
        {"interval_s": 0.0},
        {"interval_s": 1.0, "growth": 0.5},
        {"interval_s": 1.0, "max_checks": 0},
        {"tick_s": 0.0},
        {"interval_s": 1.0, "first_s": -1.0},
    ],
)
def test_a_schedule_that_makes_no_sense_is_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="bad"):
        Schedule(key="bad", label="bad", source="test", **fields)


def test_backoff_ceilings_double_up_to_the_cap() -> None:
    ceilings = [THROTTLE_BACKOFF.ceiling(n) for n in range(1, 10)]
    assert ceilings == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    # A very long run of refusals neither overflows nor passes the cap.
    assert THROTTLE_BACKOFF.ceiling(10_000) == 60.0
    with pytest.raises(ValueError, match="from 1"):
        THROTTLE_BACKOFF.ceiling(0)


def test_full_jitter_spreads_the_wait_over_zero_to_the_ceiling() -> None:
    backoff = Backoff(base_s=2.0, factor=3.0, cap_s=100.0)
    for attempt, draw in itertools.product(range(1, 6), (0.0, 0.25, 0.999)):
        assert backoff.delay(attempt, draw) == pytest.approx(draw * backoff.ceiling(attempt))


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("3", 3.0), (" 120 ", 120.0), ("0.5", 0.5), ("-4", 0.0), ("0", 0.0)],
)
def test_retry_after_in_seconds_is_read(header: str, seconds: float) -> None:
    assert parse_retry_after(header) == seconds


@pytest.mark.parametrize(
    "header", [None, "", "soon", "Wed, 21 Oct 2015 07:28:00 GMT", "nan", "inf"]
)
def test_retry_after_absent_or_unreadable_is_none(header: str | None) -> None:
    assert parse_retry_after(header) is None


def test_a_429_waits_the_servers_retry_after_unscaled() -> None:
    # Retry-After is on the emulator's own clock: a sped-up clock does not shrink it.
    assert throttle_wait_s("2", attempt=5, speed=100.0, draw=0.9, backoff=THROTTLE_BACKOFF) == 2.0


def test_a_429_without_retry_after_waits_the_backoff_in_service_time() -> None:
    wait = throttle_wait_s(None, attempt=3, speed=100.0, draw=0.5, backoff=THROTTLE_BACKOFF)
    assert wait == pytest.approx(0.5 * 4.0 / 100.0)
    growing = [
        throttle_wait_s(None, attempt=n, speed=1.0, draw=0.999, backoff=THROTTLE_BACKOFF)
        for n in range(1, 9)
    ]
    assert growing == sorted(growing)
    assert math.isclose(growing[-1], 0.999 * THROTTLE_BACKOFF.cap_s)
