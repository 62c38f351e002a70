"""Planning the parts of a long recording: the whole covered, no part over the limit or
empty, and each cut in a quiet gap when one lies in the search range."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from orchestrator.media.quiet import SILENCE_DB, cut_points

LOUD = -10.0
EPSILON = 1e-9


@st.composite
def recordings(draw: st.DrawFn) -> tuple[list[float], float, float, float]:
    """Levels per window, the window, the duration and the part limit."""
    window = draw(st.sampled_from([0.05, 0.1, 0.5, 1.0]))
    count = draw(st.integers(min_value=1, max_value=600))
    levels = draw(
        st.lists(st.floats(min_value=SILENCE_DB, max_value=0.0), min_size=count, max_size=count)
    )
    duration = draw(st.floats(min_value=window / 10, max_value=count * window))
    limit = draw(st.floats(min_value=window, max_value=max(window, duration * 1.5)))
    return levels, window, duration, limit


@settings(max_examples=60, deadline=None)
@given(recordings())
# 0.4 - 0.32 is 0.08000000000000002: a fifth part of 0.08 s left an empty sixth.
@example(([0.0] * 8, 0.05, 0.4, 0.08))
def test_parts_cover_the_whole_none_too_long_none_empty(
    case: tuple[list[float], float, float, float],
) -> None:
    levels, window, duration, limit = case
    parts = cut_points(levels, window, duration, limit)
    assert parts[0][0] == 0.0
    assert parts[-1][1] == duration
    for (_, end), (start, _) in itertools.pairwise(parts):
        assert end == start
    for start, end in parts:
        assert 0 < end - start <= limit + EPSILON
    # As few as the search range allows: each part but the last reaches into it.
    search = min(0.1 * limit, 60.0)
    assert len(parts) <= math.ceil(duration / max(limit - search - window, window)) + 1


@settings(max_examples=60, deadline=None)
@given(
    limit_windows=st.integers(min_value=50, max_value=400),
    offset=st.integers(min_value=0, max_value=1000),
    gap_length=st.integers(min_value=1, max_value=4),
    parts=st.integers(min_value=2, max_value=4),
)
# 18.2 s / 0.1 s is 181.99999999999997 windows: the gap ends at the limit's own window.
@example(limit_windows=182, offset=220, gap_length=2, parts=2)
@example(limit_windows=86, offset=20, gap_length=2, parts=2)
def test_a_cut_lands_in_the_quiet_gap_before_the_limit(
    limit_windows: int, offset: int, gap_length: int, parts: int
) -> None:
    window = 0.1
    count = limit_windows * parts
    levels = [LOUD] * count
    # One quiet gap wholly inside the search range (the last tenth) before the first limit.
    search = limit_windows // 10
    first = limit_windows - search + offset % (search - gap_length + 1)
    levels[first : first + gap_length] = [SILENCE_DB] * gap_length
    cut = cut_points(levels, window, count * window, limit_windows * window)[0][1]
    assert cut == pytest.approx((first + gap_length / 2) * window)


def test_the_middle_of_the_longest_quiet_run_wins() -> None:
    levels = [LOUD] * 100
    levels[91:93] = [SILENCE_DB] * 2
    levels[95:99] = [SILENCE_DB] * 4
    parts = cut_points(levels, 1.0, 100.0, 60.0, search_s=40.0)
    assert parts[0] == (0.0, 60.0)  # nothing quiet in [20, 60]: the limit itself
    assert parts == [(0.0, 60.0), (60.0, 100.0)]
    levels[40:42] = [SILENCE_DB] * 2
    levels[50:55] = [SILENCE_DB] * 5
    assert cut_points(levels, 1.0, 100.0, 60.0, search_s=40.0)[0] == (0.0, 52.5)


def test_a_recording_within_the_limit_is_one_part() -> None:
    assert cut_points([LOUD] * 10, 0.1, 1.0, 5.0) == [(0.0, 1.0)]


def test_no_levels_cut_at_the_limit() -> None:
    assert cut_points([], 0.1, 25.0, 10.0) == [(0.0, 10.0), (10.0, 20.0), (20.0, 25.0)]
