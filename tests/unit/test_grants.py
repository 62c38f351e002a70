"""What a claim may spend (``store.grants``): how many jobs a quota allows, the ledger rows
those spend, and the usage after them."""

from __future__ import annotations

from orchestrator.core.jobs import Job, State
from orchestrator.core.quota import QuotaSpec
from orchestrator.store import grants
from orchestrator.store.types import Charge, Spend
from tests.support.jobs import make_job

REQUESTS = Spend("submit", QuotaSpec(limit=3, window_s=60.0))
SECONDS = Spend(
    "audio", QuotaSpec(limit=100, window_s=60.0), amount=lambda job: float(job.output) * 10
)


def jobs(*outputs: int, state: State = State.QUEUED) -> list[Job]:
    return [make_job(i, state) for i in outputs]


def test_a_request_quota_allows_what_its_window_has_left_and_says_when_more() -> None:
    allowed, wake = grants.allow(
        REQUESTS, jobs(1, 2, 3), State.UPLOADING, 100.0, [(50.0, 1.0)], None
    )
    assert (allowed, wake) == (2, 110.0)  # the request of 50 leaves the window at 110
    assert grants.charges(REQUESTS, jobs(1, 2), State.UPLOADING, 100.0) == [
        Charge("submit", 100.0, 1.0),
        Charge("submit", 100.0, 1.0),
    ]


def test_a_paused_quota_allows_nothing_before_its_pause_ends() -> None:
    assert grants.allow(REQUESTS, jobs(1), None, 100.0, [], 130.0) == (0, 130.0)


def test_an_amount_quota_charges_each_entering_job_its_amount() -> None:
    # 10 + 20 + 40 seconds fit 100 after the 25 spent; 80 more fit only once the 70
    # charged now leave the window, at 160.
    allowed = grants.allow(SECONDS, jobs(1, 2, 4, 8), State.SUBMITTING, 100.0, [(90.0, 25.0)], None)
    assert allowed == (3, 160.0)
    assert grants.charges(SECONDS, jobs(1, 2, 4), State.SUBMITTING, 100.0) == [
        Charge("audio", 100.0, 10.0),
        Charge("audio", 100.0, 20.0),
        Charge("audio", 100.0, 40.0),
    ]


def test_a_job_already_in_the_state_or_of_no_amount_or_too_long_is_not_charged() -> None:
    inside = jobs(3, state=State.SUBMITTING)
    assert grants.charges(SECONDS, inside, State.SUBMITTING, 100.0) == []
    assert grants.charges(SECONDS, jobs(0, 11), State.SUBMITTING, 100.0) == []


def test_usage_counts_what_the_claim_charged_on_its_own_quota_only() -> None:
    charged = [Charge("submit", 100.0, 1.0), Charge("audio", 100.0, 30.0)]
    assert grants.usage(REQUESTS, 100.0, [(50.0, 1.0)], charged) == (2.0, 1.0)
    assert grants.usage(SECONDS, 100.0, [(90.0, 25.0)], charged) == (55.0, 45.0)
