"""The backlog figures, computed from counters shaped like the emulator's /_emulator/stats."""

from __future__ import annotations

import pytest

from bench.backlog import (
    lag_shares,
    measure_backlog,
    per_window,
    physical_limit_s,
    processing_s,
    service_pace,
    steady_share,
)
from tests.bench.helpers import T0, operation, stats


def test_submissions_are_counted_in_windows_from_the_first() -> None:
    times = [T0, T0 + 1, T0 + 9.99, T0 + 10, T0 + 25]
    assert per_window(times, 10.0) == (3, 1, 1)
    # A window with no submission is a zero, not a gap.
    assert per_window([T0, T0 + 31], 10.0) == (1, 0, 0, 1)
    assert per_window([], 10.0) == ()
    with pytest.raises(ValueError, match="positive"):
        per_window(times, 0.0)


def test_the_quota_share_leaves_out_the_first_and_the_last_window() -> None:
    # A burst in the first window and the backlog's tail in the last say nothing of the
    # steady state; the middle windows used 98 and 96 of 100.
    assert steady_share((100, 98, 96, 40), 100) == pytest.approx(0.97)
    assert steady_share((100, 100, 13), 100) == 1.0
    assert steady_share((100, 13), 100) is None
    assert steady_share((), 100) is None
    with pytest.raises(ValueError, match="quota"):
        steady_share((1, 2, 3), 0)


def test_the_physical_limit_starts_the_last_job_at_its_windows_start() -> None:
    # 350 jobs at 100 per window: the last one can go at 3 windows, then it is processed.
    assert physical_limit_s(350, 100, 3600.0, 60.0) == 3 * 3600.0 + 60.0
    # 300 jobs: the fresh quota lets 100 go at once, so the last goes at 2 windows, not 3.
    assert physical_limit_s(300, 100, 3600.0, 60.0) == 2 * 3600.0 + 60.0
    assert physical_limit_s(1, 100, 3600.0, 5.0) == 5.0
    with pytest.raises(ValueError, match="at least 1"):
        physical_limit_s(0, 100, 3600.0, 5.0)


def test_processing_runs_from_the_start_not_from_the_submission() -> None:
    # Queued 30 s, then processed for 12 s.
    assert processing_s(operation(0.0, 30.0, 42.0, 43.0)) == pytest.approx(12.0)
    assert processing_s(operation(0.0, None, None, None)) is None


def test_each_lag_is_a_share_of_its_own_jobs_processing() -> None:
    ops = [
        operation(0.0, 1.0, 11.0, 12.0),  # 1 s late on 10 s: 10%
        operation(0.0, 1.0, 101.0, 151.0),  # 50 s late on 100 s: 50%
        operation(0.0, 1.0, 1.0, 2.0),  # no processing time: no share
        operation(0.0, None, None, None),  # still running: no lag
    ]
    assert lag_shares(ops) == pytest.approx([0.1, 0.5])


def test_a_steady_backlog_measured_end_to_end() -> None:
    # 6 jobs, 2 submissions per 10 s window (speed 10: a window is 100 service seconds).
    # Each window's pair goes at its start, each job takes 4 s and is seen 1 s late.
    ops = [
        operation(
            created=w * 10.0 + i * 0.1,
            started=w * 10.0 + 0.2,
            finished=w * 10.0 + 4.2,
            seen=w * 10.0 + 5.2,
            checks=2,
        )
        for w in range(3)
        for i in range(2)
    ]
    m = measure_backlog(stats(ops, throttled={"status": 3}), jobs=6)
    assert m.operations == m.succeeded == 6
    assert m.never_seen_done == m.failed == 0
    assert m.submissions_per_window == (2, 2, 2)
    assert m.steady_quota_share == 1.0
    assert m.window_s == pytest.approx(100.0)
    # First submission at 0, last seen done at 25.2 wall s: 252 service s.
    assert m.makespan_s == pytest.approx(252.0)
    # The last job could go at 2 windows (20 s) and takes 4 s: 240 service s.
    assert m.limit_s == pytest.approx(240.0)
    assert m.fluid_limit_s == pytest.approx(340.0)  # 6 / 2 windows of 100 s, + 40 s
    assert m.makespan_vs_limit == pytest.approx(252.0 / 240.0)
    assert m.checks_per_job == 2.0
    assert m.lag_p50_s == pytest.approx(10.0)
    assert m.lag_share_p50 == pytest.approx(0.25)
    assert m.processing_p50_s == pytest.approx(40.0)
    assert (m.throttled_checks, m.throttled_submits, m.throttled) == (3, 0, 3)
    json = m.as_json()
    assert json["submissions_per_window"] == [2, 2, 2]
    assert json["makespan_vs_limit"] == pytest.approx(1.05)


def test_a_job_never_seen_done_leaves_no_makespan() -> None:
    ops = [
        operation(0.0, 0.5, 4.0, 5.0),
        operation(0.1, 0.5, 6.0, None),  # the tool gave up on it
    ]
    m = measure_backlog(stats(ops), jobs=2)
    assert m.never_seen_done == 1
    assert m.makespan_s is None
    assert m.makespan_vs_limit is None
    assert m.limit_s == pytest.approx(55.0)  # one window, no wait, 5.5 s of processing


def test_jobs_never_submitted_leave_no_makespan() -> None:
    m = measure_backlog(stats([operation(0.0, 0.5, 4.0, 5.0)]), jobs=3)
    assert (m.operations, m.makespan_s) == (1, None)
    with pytest.raises(ValueError, match="at least 1"):
        measure_backlog(stats([]), jobs=0)


def test_the_service_pace_is_processing_over_the_documented_ten_seconds_a_minute() -> None:
    # speed 10: 60 s of audio should take 10 service s, 1 wall s.
    on_time = operation(0.0, 0.0, 1.0, 1.5, audio_s=60.0)
    late = operation(0.0, 0.0, 1.5, 2.0, audio_s=60.0)
    stereo = {**operation(0.0, 0.0, 2.0, 2.5, audio_s=60.0), "channels": 2}
    assert service_pace([on_time, stereo], speed=10.0) == pytest.approx(1.0)
    assert service_pace([on_time, late, late], speed=10.0) == pytest.approx(1.5)
    assert service_pace([operation(0.0, None, None, None)], speed=10.0) is None
    # 60 s of audio with 5 service seconds per operation: 15 s is on time.
    with_overhead = operation(0.0, 0.0, 1.5, 2.0, audio_s=60.0)
    assert service_pace([with_overhead], speed=10.0, overhead_s=5.0) == pytest.approx(1.0)
