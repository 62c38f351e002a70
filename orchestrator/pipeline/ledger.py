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

    async def usage(
        self, specs: Mapping[str, quota.QuotaSpec], now: float | None = None
    ) -> list[quota.QuotaUsage]:
        """Each quota's use as of ``now`` (the clock's by default), in the order of
        ``specs``: what the status page shows and the metrics export. The daily audio quota
        is counted in seconds."""
        now = self.clock() if now is None else now
        found = []
        for name, spec in specs.items():
            since = now - spec.window_s
            if name in quota.AMOUNT_QUOTAS:
                used, left = quota.usage_amount(
                    await self.store.quota_amounts(name, since), spec, now
                )
            else:
                counted = quota.usage(await self.store.quota_spent(name, since), spec, now)
                used, left = float(counted[0]), float(counted[1])
            paused = await self.store.quota_paused_until(name)
            found.append(quota.QuotaUsage(name, used, left, spec.window_s, paused))
        return found

    async def report(self, specs: Mapping[str, quota.QuotaSpec]) -> list[quota.QuotaUsage]:
        """Set the used/left and pause metrics of each quota as of now (for a scrape); the
        usage they were set from."""
        now = self.clock()
        found = await self.usage(specs, now)
        for use in found:
            self.metrics.set_quota(use.name, use.used, use.left)
            self.metrics.quota_pause.set(use.pause_left(now), quota=use.name)
        return found

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
