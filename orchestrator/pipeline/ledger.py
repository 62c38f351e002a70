"""The quota ledger's I/O shell: the store keeps what was spent, ``quota`` decides.

Quota is granted and spent by ``Store.claim``, in the transaction that hands the jobs to
a stage, right before their requests go out: a crash can only over-count, and the ledger's
times are the requests' times. Windows are sliding and survive restarts because they live
in the store. This module pauses a quota after a 429, reports usage and prunes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from orchestrator.core import quota
from orchestrator.store.protocol import Store
from orchestrator.telemetry.metrics import DaemonMetrics


class QuotaLedger:
    """Pauses quotas after a 429, reports their usage, prunes old entries."""

    def __init__(self, store: Store, metrics: DaemonMetrics, clock: Callable[[], float]) -> None:
        self.store = store
        self.metrics = metrics
        self.clock = clock

    async def report(self, specs: Mapping[str, quota.QuotaSpec]) -> None:
        """Set the used/left metrics of each quota as of now (for a scrape)."""
        now = self.clock()
        for name, spec in specs.items():
            spent = await self.store.quota_spent(name, now - spec.window_s)
            used, left = quota.usage(spent, spec, now)
            self.metrics.set_quota(name, used, left)

    async def pause(self, name: str, retry_after_s: float | None, fallback_s: float) -> float:
        """A 429 came back: spend nothing on ``name`` until the returned time."""
        now = self.clock()
        paused = await self.store.quota_paused_until(name)
        until = quota.pause_after_429(
            now, paused_until=paused, retry_after_s=retry_after_s, fallback_s=fallback_s
        )
        await self.store.pause_quota(name, until)
        self.metrics.throttled.inc(quota=name)
        return until

    async def prune(self, specs: Mapping[str, quota.QuotaSpec]) -> None:
        """Forget the entries no window can count any more."""
        now = self.clock()
        for name, spec in specs.items():
            await self.store.prune_quota(name, quota.prune_before(spec, now))
