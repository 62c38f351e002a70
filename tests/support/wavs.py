"""WAV files for tests: distinct short ones for many jobs, silent ones, any samples'."""

from __future__ import annotations

import io
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


def wav_bytes(pcm: bytes, rate: int, channels: int) -> bytes:
    """16-bit PCM samples as the bytes of a WAV file."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return buffer.getvalue()


def silent_wav(path: Path, seconds: float) -> Path:
    """A 16 kHz mono WAV of all-zero samples (silence, in which the service recognises
    nothing) written at ``path``; the path."""
    path.write_bytes(wav_bytes(b"\0\0" * int(16000 * seconds), 16000, 1))
    return path
