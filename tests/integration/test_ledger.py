"""The quota ledger's pause and prune over each real store (grants: test_store)."""

from __future__ import annotations

from orchestrator.core.jobs import State
from orchestrator.core.quota import AUDIO_QUOTA, SUBMIT_QUOTA, Pause, QuotaSpec
from orchestrator.core.settings import RecognitionSettings
from orchestrator.pipeline.ledger import QuotaLedger
from orchestrator.speechkit.v2 import STATUS_CHECKS
from orchestrator.store import Claim, NewJob, Spend, Store
from orchestrator.telemetry.metrics import DaemonMetrics
from tests.integration.conftest import Opener
from tests.support.clock import Clock

BACKOFF = {"base_s": 2.0, "max_s": 60.0, "memory_s": 10.0}


async def test_a_pause_never_shortens_and_is_counted(store: Store) -> None:
    clock, metrics = Clock(), DaemonMetrics()
    ledger = QuotaLedger(store, metrics, clock)
    pause = await ledger.pause(STATUS_CHECKS.name, 7.0, **BACKOFF)
    assert pause == Pause(1007.0, 1)
    assert await store.quota_paused_until(STATUS_CHECKS.name) == 1007.0
    assert metrics.throttled.value(quota=STATUS_CHECKS.name) == 1
    # A 429 of a request sent before the pause neither shortens it nor counts again.
    assert await ledger.pause(STATUS_CHECKS.name, None, **BACKOFF) == Pause(1007.0, 1)
    assert metrics.throttled.value(quota=STATUS_CHECKS.name) == 2


async def test_429s_in_a_row_pause_longer_each_time_and_the_store_keeps_the_count(
    open_store: Opener,
) -> None:
    clock = Clock()
    waits = []
    for _ in range(4):
        # A new store each time: the count survives a restart (and is shared by daemons).
        store = await open_store()
        try:
            pause = await QuotaLedger(store, DaemonMetrics(), clock).pause(
                SUBMIT_QUOTA, None, **BACKOFF
            )
        finally:
            await store.close()
        waits.append(pause.until - clock.now)
        clock.now = pause.until + 0.5
    assert waits == [2.0, 4.0, 8.0, 16.0]
    assert pause.strikes == 4


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
