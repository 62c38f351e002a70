"""The job state machine."""

from __future__ import annotations

import pytest

from orchestrator.core.jobs import ACTIVE, TERMINAL, InvalidTransition, State, check_transition


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (State.QUEUED, State.UPLOADING),
        (State.UPLOADING, State.UPLOADED),
        (State.UPLOADED, State.SUBMITTING),
        (State.SUBMITTING, State.RUNNING),
        (State.RUNNING, State.FETCHING),
        (State.FETCHING, State.DONE),
        (State.RUNNING, State.UPLOADED),  # results expired: resubmit
        (State.QUEUED, State.WAITING),
        (State.WAITING, State.FETCHING),
        (State.FAILED, State.QUEUED),
        (State.QUEUED, State.SPLIT),
        (State.UPLOADING, State.SPLIT),
        (State.SPLIT, State.FETCHING),  # every part done
        (State.SPLIT, State.QUEUED),  # retry
    ],
)
def test_allowed(current: State, new: State) -> None:
    check_transition(current, new)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (State.QUEUED, State.RUNNING),
        (State.UPLOADED, State.DONE),
        (State.DONE, State.QUEUED),
        (State.DONE, State.FAILED),
        (State.FAILED, State.DONE),
        (State.SPLIT, State.DONE),
        (State.SPLIT, State.UPLOADED),
        (State.RUNNING, State.SPLIT),
    ],
)
def test_refused(current: State, new: State) -> None:
    with pytest.raises(InvalidTransition, match=f"from {current} to {new}"):
        check_transition(current, new)


def test_every_active_state_can_fail_or_be_cancelled() -> None:
    for state in ACTIVE:
        check_transition(state, State.FAILED)
        check_transition(state, State.CANCELLED)
    assert {State.DONE, State.FAILED, State.CANCELLED} == TERMINAL
