"""Distinct short WAV files for tests that need many jobs."""

from __future__ import annotations

import random
import wave
from pathlib import Path


def make_wavs(folder: Path, count: int, seed: int = 7, prefix: str = "call") -> list[str]:
    """Distinct short 16 kHz mono WAV files (noise), so no two share a content hash."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for index in range(count):
        name = f"{prefix}-{index:03d}.wav"
        frames = 16000 * rng.randint(2, 6)
        with wave.open(str(folder / name), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(16000)
            out.writeframes(rng.randbytes(frames * 2))
        names.append(name)
    return names
