"""Audio probing: one module per format, ``probe`` to tell them apart and check the limits."""

from __future__ import annotations

from orchestrator.intake.audio.common import AudioError, TooLong, Unsupported
from orchestrator.intake.audio.probe import check_limits, content_hash, identify, probe, read_range

__all__ = [
    "AudioError",
    "TooLong",
    "Unsupported",
    "check_limits",
    "content_hash",
    "identify",
    "probe",
    "read_range",
]
