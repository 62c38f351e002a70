"""The workloads: N distinct files of seeded durations, log-uniform between two bounds.

The default regime uses WAV files of seeded noise (8 kHz mono); the backlog regime, whose
recordings last minutes, uses silent Ogg Opus files (:mod:`bench.oggopus`) a few kilobytes
each. Either way the service takes the duration from the file, as it would from speech.
"""

from __future__ import annotations

import math
import random
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bench.oggopus import silent_opus

Encoding = Literal["LINEAR16_PCM", "OGG_OPUS"]
SAMPLE_RATE = 8000  # the lowest rate SpeechKit v2 takes: the smallest files for a duration
WAV_HEADER_BYTES = 44


@dataclass(frozen=True)
class AudioFile:
    """One generated file; the service is sent its bytes from ``data_offset`` on.

    A WAV's header is stripped (API v2 wants raw LINEAR16_PCM); Ogg Opus goes whole.
    """

    name: str
    path: Path
    duration_s: float
    encoding: Encoding = "LINEAR16_PCM"

    @property
    def data_offset(self) -> int:
        """Where the bytes the service reads start."""
        return WAV_HEADER_BYTES if self.encoding == "LINEAR16_PCM" else 0


@dataclass(frozen=True)
class Workload:
    """The files every contender transcribes, and how they were made."""

    files: tuple[AudioFile, ...]
    min_s: float
    max_s: float
    seed: int
    kind: str = "WAV files of noise (8000 Hz mono)"

    @property
    def audio_seconds(self) -> float:
        """Total audio duration."""
        return sum(f.duration_s for f in self.files)


def durations(n: int, min_s: float, max_s: float, seed: int) -> list[float]:
    """``n`` durations, log-uniform in [min_s, max_s] (short recordings are the common case).

    Rounded to whole samples so the file's true length is exactly the duration.
    """
    rng = random.Random(f"{seed}:durations")
    low, high = math.log(min_s), math.log(max_s)
    return [round(math.exp(rng.uniform(low, high)) * SAMPLE_RATE) / SAMPLE_RATE for _ in range(n)]


def wav_header(data_bytes: int, sample_rate: int = SAMPLE_RATE) -> bytes:
    """A canonical 44-byte PCM WAV header for 16-bit mono data."""
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def generate(folder: Path, n: int, min_s: float, max_s: float, seed: int) -> Workload:
    """Write ``n`` WAV files of seeded noise into ``folder``."""
    if n < 1:
        raise ValueError("the workload needs at least one file")
    if not 0 < min_s <= max_s:
        raise ValueError("durations must satisfy 0 < min <= max")
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for index, duration in enumerate(durations(n, min_s, max_s, seed)):
        samples = round(duration * SAMPLE_RATE)
        # White noise: cheap to make, and distinct per file so no two are deduplicated.
        noise = random.Random(f"{seed}:audio:{index}").randbytes(samples * 2)
        name = f"noise-{index:04d}.wav"
        path = folder / name
        path.write_bytes(wav_header(samples * 2) + noise)
        files.append(AudioFile(name=name, path=path, duration_s=samples / SAMPLE_RATE))
    return Workload(files=tuple(files), min_s=min_s, max_s=max_s, seed=seed)


def generate_opus(folder: Path, n: int, min_s: float, max_s: float, seed: int) -> Workload:
    """Write ``n`` silent Ogg Opus files of seeded, log-uniform durations into ``folder``."""
    if n < 1:
        raise ValueError("the workload needs at least one file")
    if not 0 < min_s <= max_s:
        raise ValueError("durations must satisfy 0 < min <= max")
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for index, duration in enumerate(durations(n, min_s, max_s, seed)):
        name = f"silence-{index:04d}.opus"
        path = folder / name
        # The index in the tags keeps two files of equal length distinct.
        data = silent_opus(duration, serial=index + 1, comments=(f"BENCH_FILE={seed}:{index}",))
        path.write_bytes(data)
        files.append(AudioFile(name=name, path=path, duration_s=duration, encoding="OGG_OPUS"))
    return Workload(
        files=tuple(files),
        min_s=min_s,
        max_s=max_s,
        seed=seed,
        kind="silent Ogg Opus files (mono)",
    )
