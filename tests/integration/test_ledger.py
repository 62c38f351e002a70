"""The quota ledger over the real SQLite store."""

from __future__ import annotations

import pytest

from orchestrator.ledger import AUDIO_QUOTA, STATUS_QUOTA, SUBMIT_QUOTA, QuotaLedger
from orchestrator.metrics import DaemonMetrics
from orchestrator.quota import QuotaSpec
from orchestrator.store import SQLiteStore
from tests.support.clock import Clock


async def test_grants_within_the_window_across_a_restart(store: SQLiteStore) -> None:
    clock, metrics = Clock(), DaemonMetrics()
    spec = QuotaSpec(limit=3, window_s=60.0)
    ledger = QuotaLedger(store, metrics, clock)
    assert await ledger.grant(SUBMIT_QUOTA, spec, 2, clock.now) == (2, None)
    await store.spend_quota(SUBMIT_QUOTA, [clock.now, clock.now])
    # A new ledger (a restarted daemon) sees what the old one spent.
    again = QuotaLedger(store, metrics, clock)
    granted, _ = await again.grant(SUBMIT_QUOTA, spec, 5, 1010.0)
    assert granted == 1
    assert metrics.quota_used.value(quota=SUBMIT_QUOTA) == 2
    assert metrics.quota_left.value(quota=SUBMIT_QUOTA) == 1
    await store.spend_quota(SUBMIT_QUOTA, [1010.0])
    # Full: nothing until the first two leave the window.
    assert await again.grant(SUBMIT_QUOTA, spec, 5, 1020.0) == (0, 1060.0)
    granted, _ = await again.grant(SUBMIT_QUOTA, spec, 5, 1060.0)
    assert granted == 2


async def test_a_pause_holds_every_grant_until_it_ends(store: SQLiteStore) -> None:
    clock, metrics = Clock(), DaemonMetrics()
    spec = QuotaSpec(limit=100, window_s=60.0)
    ledger = QuotaLedger(store, metrics, clock)
    until = await ledger.pause(STATUS_QUOTA, retry_after_s=7.0, fallback_s=1.0)
    assert until == 1007.0
    assert await ledger.grant(STATUS_QUOTA, spec, 4, clock.now) == (0, 1007.0)
    assert await ledger.grant(STATUS_QUOTA, spec, 4, 1007.0) == (4, None)
    assert metrics.throttled.value(quota=STATUS_QUOTA) == 1
    # Without Retry-After the fallback applies; a shorter pause never shortens a longer one.
    assert await ledger.pause(STATUS_QUOTA, retry_after_s=None, fallback_s=2.0) == 1007.0


async def test_amounts_are_charged_until_the_day_is_full(store: SQLiteStore) -> None:
    clock = Clock()
    spec = QuotaSpec(limit=100, window_s=86400.0)
    ledger = QuotaLedger(store, DaemonMetrics(), clock)
    assert await ledger.charge(AUDIO_QUOTA, spec, 60.0) is None
    assert await ledger.charge(AUDIO_QUOTA, spec, 40.0) is None
    assert await ledger.charge(AUDIO_QUOTA, spec, 1.0) == 1000.0 + 86400.0
    with pytest.raises(ValueError, match="exceeds"):
        await ledger.charge(AUDIO_QUOTA, spec, 101.0)
    clock.now += 3 * 86400
    await ledger.prune({AUDIO_QUOTA: spec})
    assert await store.quota_amounts(AUDIO_QUOTA, 0.0) == []
