"""The time to finish under the quotas: one formula before a run and during one."""

from __future__ import annotations

import math

import pytest

from orchestrator.core.finish_time import Quotas, Window, Work, finish_time
from orchestrator.speechkit import CATALOGUE


def quotas(**overrides: Window) -> Quotas:
    base = {
        "submit": Window(500, 3600),
        "status": Window(2500, 3600),
        "status_v3": Window(5, 1.25),
        "audio": Window(10000 * 3600, 86400),
        "asr_xml": Window(20, 1.25),
    }
    base.update(overrides)
    return Quotas(base, {"asr_xml": 10})


@pytest.mark.parametrize(
    ("count", "limit", "left", "expected"),
    [
        (0, 500, None, 0.0),
        (500, 500, None, 0.0),  # one whole window: no waiting
        (501, 500, None, 3600.0),
        (1000, 500, None, 3600.0),
        (1001, 500, None, 7200.0),
        (10, 500, 10, 0.0),  # what is left now is enough
        (11, 500, 10, 3600.0),  # one more than left: the next window
        (510, 500, 10, 3600.0),
        (511, 500, 10, 7200.0),
        (5, 500, 0, 3600.0),  # the window is spent: wait for it
    ],
)
def test_a_window_waits_whole_windows_past_what_is_left(
    count: int, limit: int, left: float | None, expected: float
) -> None:
    assert Window(limit, 3600, left).wait(count) == expected


@pytest.mark.parametrize("jobs", [1, 499, 500, 501, 1499, 5000])
def test_a_whole_window_ahead_is_the_plans_formula(jobs: int) -> None:
    # (ceil(n / limit) - 1) x window: what `plan` has always said.
    assert Window(500, 3600).wait(jobs) == (math.ceil(jobs / 500) - 1) * 3600


def test_the_slowest_quota_plus_the_longest_file_makes_the_finish() -> None:
    work = Work(to_submit={"v2": 1200}, billable_s={"v2": 3.0 * 3600}, longest_processing_s=600.0)
    got = finish_time(work, quotas(), CATALOGUE)
    assert got.waits_s["submit"] == 7200.0
    assert got.waits_s["status"] == 0.0  # 1800 checks fit in one window
    assert got.finish_s == 7200.0 + 600.0


def test_status_checks_can_be_the_bottleneck() -> None:
    work = Work(to_submit={"v2": 400}, longest_processing_s=10.0)
    got = finish_time(work, quotas(status=Window(100, 3600)), CATALOGUE)
    assert got.waits_s["status"] == 5 * 3600.0  # 600 checks, 100 an hour
    assert got.finish_s == got.waits_s["status"] + 10.0


def test_jobs_already_running_finish_in_their_own_time() -> None:
    got = finish_time(Work(checking={"v2": 3}, running_left_s=42.0), quotas(), CATALOGUE)
    assert got.finish_s == 42.0


def test_asr_xml_is_bound_by_its_concurrency() -> None:
    work = Work(to_submit={"asr_xml": 10}, processing_s={"asr_xml": 100.0})
    got = finish_time(work, quotas(), CATALOGUE)
    assert got.waits_s["asr_xml"] == 10.0  # 100 s of processing, 10 at a time
    assert got.finish_s == 10.0


def test_nothing_left_is_no_time() -> None:
    assert finish_time(Work(), quotas(), CATALOGUE).finish_s == 0.0
