"""The quota ledger's pause and prune over each real store (grants: test_store)."""

from __future__ import annotations

from orchestrator.core.jobs import State
from orchestrator.core.quota import AUDIO_QUOTA, STATUS_QUOTA, QuotaSpec
from orchestrator.core.settings import RecognitionSettings
from orchestrator.pipeline.ledger import QuotaLedger
from orchestrator.store import Claim, NewJob, Spend, Store
from orchestrator.telemetry.metrics import DaemonMetrics
from tests.support.clock import Clock


async def test_a_pause_never_shortens_and_is_counted(store: Store) -> None:
    clock, metrics = Clock(), DaemonMetrics()
    ledger = QuotaLedger(store, metrics, clock)
    until = await ledger.pause(STATUS_QUOTA, retry_after_s=7.0, fallback_s=1.0)
    assert until == 1007.0
    assert await store.quota_paused_until(STATUS_QUOTA) == 1007.0
    assert metrics.throttled.value(quota=STATUS_QUOTA) == 1
    # Without Retry-After the fallback applies; a shorter pause never shortens a longer one.
    assert await ledger.pause(STATUS_QUOTA, retry_after_s=None, fallback_s=2.0) == 1007.0


async def test_prune_forgets_what_no_window_counts(store: Store) -> None:
    clock = Clock()
    spec = QuotaSpec(limit=100, window_s=86400.0)
    ledger = QuotaLedger(store, DaemonMetrics(), clock)
    await store.add_manifest(
        "m", "/m.yaml", "d", [NewJob("/a.ogg", "a", RecognitionSettings())], 1.0
    )
    spend = Spend(AUDIO_QUOTA, spec, amount=lambda _job: 60.0)
    await store.claim(Claim((State.QUEUED,), 1, 60.0, spends=(spend,)), "me", clock.now)
    await ledger.prune({AUDIO_QUOTA: spec})
    assert await store.quota_amounts(AUDIO_QUOTA, 0.0) == [(1000.0, 60.0)]
    clock.now += 3 * 86400
    await ledger.prune({AUDIO_QUOTA: spec})
    assert await store.quota_amounts(AUDIO_QUOTA, 0.0) == []
