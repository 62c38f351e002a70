"""speechkit-orchestrator: batch transcription through Yandex SpeechKit asynchronous recognition."""

from __future__ import annotations

__version__ = "0.1.0"
