"""Seeded fault injection: which API requests get a 5xx, a reset or a slow answer."""

from __future__ import annotations

import random
from typing import Literal

from orchestrator.emulator.settings import EmulatorSettings

Fault = Literal["reset", "5xx", "slow"]


class FaultInjector:
    """One draw per API request, from a generator seeded by the settings."""

    def __init__(self, settings: EmulatorSettings) -> None:
        self._settings = settings
        self._rng = random.Random(f"{settings.seed}:faults")

    def draw(self) -> Fault | None:
        """The fault for the next request, if any."""
        s = self._settings
        if not (s.reset_rate or s.error_5xx_rate or s.slow_rate):
            return None
        roll = self._rng.random()
        if roll < s.reset_rate:
            return "reset"
        if roll < s.reset_rate + s.error_5xx_rate:
            return "5xx"
        if roll < s.reset_rate + s.error_5xx_rate + s.slow_rate:
            return "slow"
        return None

    def server_error_code(self) -> int:
        """Which 5xx to send: INTERNAL (500) or UNAVAILABLE (503), half each."""
        return 13 if self._rng.random() < 0.5 else 14
