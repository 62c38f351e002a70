"""What every format module shares: the error, the limits' wording, small readers."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from orchestrator.core.constants import LPCM_SAMPLE_RATES

ALLOWED_FORMATS = (
    "SpeechKit accepts Ogg Opus, MP3, 16-bit WAV, or raw 16-bit LPCM "
    "(declared with encoding: LINEAR16_PCM and sample_rate)"
)
RATES_TEXT = ", ".join(str(r) for r in LPCM_SAMPLE_RATES) + " Hz"
OPUS_RATE = 48000


class AudioError(Exception):
    """An audio file SpeechKit cannot take, or that contradicts what was declared about it."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class Unsupported(AudioError):
    """Audio in a format, codec, sample size or rate the service does not take as it is:
    a file to convert, unless the job says ``convert: never``."""


class TooLong(AudioError):
    """Audio longer (or bigger) than the service takes in one request: a file to split (or
    convert, when only its size is too big), unless the job says ``split: never``."""


def check_lpcm_rate(path: Path, rate: int, source: str) -> None:
    if rate not in LPCM_SAMPLE_RATES:
        raise Unsupported(
            path,
            f"unsupported LPCM sample rate {rate} Hz ({source}); SpeechKit accepts "
            f"{RATES_TEXT} for LINEAR16_PCM (resample it, or convert it to Ogg Opus)",
        )


def read_at(f: BinaryIO, offset: int, count: int) -> bytes:
    f.seek(offset)
    return f.read(count)


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h"


def gib(count: int) -> str:
    return f"{count} bytes ({count / 1024**3:.2f} GB)"
