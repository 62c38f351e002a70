"""Completion hooks in the SQLite file: a manifest's own, and the deliveries still to make."""

from __future__ import annotations

from orchestrator.core.hooks import DeliveryState, HookDelivery, OnFinish
from orchestrator.store.rows import on_finish_of, row_to_delivery
from orchestrator.store.sqlite.connection import Connection
from orchestrator.store.sqlite.schema import Q


class Hooks(Connection):
    """The hook deliveries of one daemon's file."""

    async def manifest_on_finish(self, manifest_id: int) -> OnFinish | None:
        """The completion hooks the manifest asked for itself."""
        row = await self._one("manifest_on_finish", {"id": manifest_id})
        return None if row is None else on_finish_of(row[0])

    async def pending_hooks(self, node: str | None = None) -> list[HookDelivery]:
        """Deliveries still to make, earliest due first (one daemon per file: all of them,
        whatever ``node`` says)."""
        return [row_to_delivery(row) for row in await self._all("pending_hook_deliveries", {})]

    async def hook_deliveries(self) -> list[HookDelivery]:
        """Every delivery, by manifest."""
        return [row_to_delivery(row) for row in await self._all("all_hook_deliveries", {})]

    async def record_hook(
        self,
        delivery: int,
        state: DeliveryState,
        attempts: int,
        next_attempt_at: float,
        error: str | None,
        now: float,
    ) -> bool:
        """The outcome of an attempt at a pending delivery; False when it was not pending."""
        params = {
            "id": delivery,
            "state": state,
            "attempts": attempts,
            "next_attempt_at": next_attempt_at,
            "last_error": error,
            "now": now,
        }
        async with self._tx() as db, db.execute(Q["record_hook_delivery"], params) as cur:
            return cur.rowcount == 1
