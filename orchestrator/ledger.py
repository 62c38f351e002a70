"""The quota ledger's I/O shell: the store keeps what was spent, ``quota`` decides.

Every request is recorded before it is sent (see ``Store.claim``), so a crash can only
over-count; windows are sliding and survive restarts because they live in the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from orchestrator import quota
from orchestrator.metrics import DaemonMetrics
from orchestrator.store.base import Store

SUBMIT_QUOTA = "submit"
STATUS_QUOTA = "status"
AUDIO_QUOTA = "audio"  # billable audio seconds per day, counted in amounts


class QuotaLedger:
    """Grants, pauses and charges against the stored ledger of each quota."""

    def __init__(self, store: Store, metrics: DaemonMetrics, clock: Callable[[], float]) -> None:
        self.store = store
        self.metrics = metrics
        self.clock = clock
        # Check-and-charge of an amount must not interleave with another one.
        self._amount_lock = asyncio.Lock()

    async def grant(
        self, name: str, spec: quota.QuotaSpec, wanted: int, now: float
    ) -> tuple[int, float | None]:
        """How many of ``wanted`` requests ``name`` allows now, and (when fewer than
        wanted) the time one more will be allowed."""
        if wanted <= 0:
            return 0, None
        spent = await self.store.quota_spent(name, now - spec.window_s)
        paused = await self.store.quota_paused_until(name)
        used, left = quota.usage(spent, spec, now)
        self.metrics.set_quota(name, used, left)
        granted = quota.grant(spent, spec, now, wanted, paused_until=paused)
        if granted >= wanted:
            return granted, None
        return granted, quota.next_allowed(spent, spec, now, paused_until=paused)

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

    async def charge(self, name: str, spec: quota.QuotaSpec, amount: float) -> float | None:
        """Charge ``amount`` to a quota counted in amounts; None when charged, else the time
        it would fit. ValueError when it can never fit (larger than the whole quota)."""
        async with self._amount_lock:
            now = self.clock()
            spent = await self.store.quota_amounts(name, now - spec.window_s)
            when = quota.next_allowed_amount(spent, spec, now, amount)
            if when > now:
                return when
            await self.store.spend_amount(name, now, amount)
            return None

    async def prune(self, specs: Mapping[str, quota.QuotaSpec]) -> None:
        """Forget the entries no window can count any more."""
        now = self.clock()
        for name, spec in specs.items():
            await self.store.prune_quota(name, quota.prune_before(spec, now))
