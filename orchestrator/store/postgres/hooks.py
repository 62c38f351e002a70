"""Completion hooks in PostgreSQL: a manifest's own, and the deliveries still to make,
each delivered by the node that took its manifest in."""

from __future__ import annotations

from orchestrator.core.hooks import DeliveryState, HookDelivery, OnFinish
from orchestrator.store.postgres.connection import Connection
from orchestrator.store.rows import on_finish_of, row_to_delivery


class Hooks(Connection):
    """The hook deliveries of every daemon sharing the database."""

    async def manifest_on_finish(self, manifest_id: int) -> OnFinish | None:
        """The completion hooks the manifest asked for itself."""
        row = await self._one("manifest_on_finish", id=manifest_id)
        return None if row is None else on_finish_of(row[0])

    async def pending_hooks(self, node: str | None = None) -> list[HookDelivery]:
        """Deliveries still to make (of ``node``'s manifests, when given), earliest first."""
        rows = await self._all("pending_hook_deliveries", node=node)
        return [row_to_delivery(row) for row in rows]

    async def hook_deliveries(self) -> list[HookDelivery]:
        """Every delivery, by manifest."""
        return [row_to_delivery(row) for row in await self._all("all_hook_deliveries")]

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
        changed = await self._write(
            "record_hook_delivery",
            id=delivery,
            state=state,
            attempts=attempts,
            next_attempt_at=next_attempt_at,
            last_error=error,
            now=now,
        )
        return changed == 1
