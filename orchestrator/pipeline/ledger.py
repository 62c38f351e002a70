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

    async def pause(
        self,
        name: str,
        retry_after_s: float | None,
        *,
        base_s: float,
        max_s: float,
        memory_s: float,
    ) -> quota.Pause:
        """A 429 came back: spend nothing on ``name`` until the returned pause's end (the
        server's Retry-After, else a backoff growing with each 429 in a row, counted in
        the store so every daemon on it shares the count and the deadline)."""
        now = self.clock()

        def change(current: quota.Pause | None) -> quota.Pause:
            return quota.pause_after_429(
                now,
                current=current,
                retry_after_s=retry_after_s,
                base_s=base_s,
                max_s=max_s,
                memory_s=memory_s,
            )

        pause = await self.store.pause_quota(name, change)
        self.metrics.throttled.inc(quota=name)
        return pause

    async def prune(self, specs: Mapping[str, quota.QuotaSpec]) -> None:
        """Forget the entries no window can count any more."""
        now = self.clock()
        for name, spec in specs.items():
            await self.store.prune_quota(name, quota.prune_before(spec, now))
