"""SpeechKit's billing unit (pure): one second of two-channel audio."""

from __future__ import annotations

import math

from orchestrator.core.constants import BILLING_MIN_S_PER_PAIR


def billable_seconds(duration_s: float, channels: int) -> float:
    """SpeechKit's billed seconds: channels rounded up to pairs, at least 15 s per pair."""
    return max(duration_s, BILLING_MIN_S_PER_PAIR) * math.ceil(channels / 2)
