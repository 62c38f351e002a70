"""Raw 16-bit LPCM: no header, so the manifest must declare its rate (and channels)."""

from __future__ import annotations

from pathlib import Path

from orchestrator.core.audio import AudioFacts, Encoding
from orchestrator.intake.audio.common import (
    ALLOWED_FORMATS,
    RATES_TEXT,
    AudioError,
    Unsupported,
    check_lpcm_rate,
)


def probe_raw(
    path: Path,
    size: int,
    encoding: Encoding | None,
    sample_rate: int | None,
    channels: int | None,
) -> AudioFacts:
    if encoding != "LINEAR16_PCM":
        said = f"declared {encoding}, but the" if encoding else "the"
        # Maybe a format FFmpeg knows though the first bytes did not tell us: convertible.
        error = AudioError if encoding else Unsupported
        raise error(
            path,
            # Never the bytes themselves: a manifest may name a file it should not see.
            f"unknown audio format: {said} bytes are not Ogg Opus, MP3 or WAV; {ALLOWED_FORMATS}",
        )
    if sample_rate is None:
        raise AudioError(
            path,
            "raw LPCM (no header) needs sample_rate declared "
            f"({RATES_TEXT}); the bytes do not say it",
        )
    check_lpcm_rate(path, sample_rate, "declared")
    channel_count = 1 if channels is None else channels
    if channel_count < 1:
        raise AudioError(path, f"channels is declared {channel_count}; it must be 1 or more")
    frame = 2 * channel_count
    if size % frame:
        raise AudioError(
            path,
            f"truncated raw LPCM: {size} bytes is not a whole number of 16-bit "
            f"{channel_count}-channel frames ({frame} bytes each)",
        )
    duration = size / (frame * sample_rate)
    return AudioFacts(
        container="raw",
        encoding="LINEAR16_PCM",
        duration_s=duration,
        channels=channel_count,
        sample_rate=sample_rate,
        size_bytes=size,
        data_offset=0,
        data_length=size,
    )
