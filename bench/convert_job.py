"""What a media pool worker does for the conversion bench: probe, convert, count its CPU."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from orchestrator.media.convert import convert
from orchestrator.media.probe import media_info
from orchestrator.media.target import speech_target


@dataclass(frozen=True)
class Done:
    """One file converted: its audio seconds, bytes out, and the worker's CPU seconds on it."""

    audio_s: float
    bytes_out: int
    cpu_s: float


def convert_file(src: Path, dst: Path) -> Done:
    """Probe ``src`` and convert it to Ogg Opus for speech at ``dst``, as the daemon would."""
    started = time.process_time()
    info = media_info(src)
    result = convert(src, dst, speech_target(info))
    return Done(result.duration_s, result.size_bytes, time.process_time() - started)
