"""The running daemon's ``/status`` and ``/`` answers: each one ``gather`` of the overview,
as JSON or as the status page."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from orchestrator.pipeline.pipeline import Pipeline
from orchestrator.service.overview import Overview, gather
from orchestrator.service.status_page import render_page
from orchestrator.store.protocol import Store


class StatusView:
    """The running daemon's ``/status`` and ``/`` answers, each from one ``gather``."""

    def __init__(
        self,
        store: Store,
        pipeline: Pipeline,
        started_at: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        self.started_at = started_at
        self.clock = clock

    async def gather(self) -> Overview:
        """The overview as of now, under the settings in force (a reload may change the
        quotas)."""
        settings = self.pipeline.settings
        return await gather(
            self.store,
            self.pipeline.ledger,
            settings.quotas,
            node=settings.node,
            started_at=self.started_at,
            now=self.clock(),
        )

    async def status(self) -> dict[str, Any]:
        """The ``/status`` document."""
        return (await self.gather()).to_dict()

    async def page(self) -> str:
        """The status page (what each quota is: the catalogue of the settings in force)."""
        return render_page(await self.gather(), apis=self.pipeline.settings.apis)
