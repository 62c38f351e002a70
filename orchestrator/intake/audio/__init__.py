"""Audio probing: one module per format, ``probe`` to tell them apart and check the limits."""

from __future__ import annotations

from orchestrator.intake.audio.common import AudioError, TooLong, Unsupported
from orchestrator.intake.audio.probe import content_hash, probe, read_range

__all__ = [
    "AudioError",
    "TooLong",
    "Unsupported",
    "content_hash",
    "probe",
    "read_range",
]
