"""What the emulator learns from the fetched bytes: format, duration, channels.

The declared ``audioEncoding`` must agree with the bytes; otherwise the operation ends with
an error, as the real service cannot decode such audio either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Any, Literal

from orchestrator.core import constants

Container = Literal["ogg_opus", "ogg_other", "mp3", "wav", "unknown"]

_NAMES: dict[Container, str] = {
    "ogg_opus": "Ogg Opus",
    "ogg_other": "Ogg (not Opus)",
    "mp3": "MP3",
    "wav": "WAV",
    "unknown": "unrecognised data",
}


class AudioDecodeError(Exception):
    """The bytes cannot be decoded as declared; the message is the operation's error text."""


@dataclass(frozen=True)
class ProbedAudio:
    """Duration and channel count of the audio, as the recogniser would see them."""

    duration_s: float
    channels: int


def detect_container(head: bytes) -> Container:
    """The container named by the first bytes (at least 64 of them, when the file has them)."""
    if head.startswith(b"OggS"):
        return "ogg_opus" if b"OpusHead" in head[:128] else "ogg_other"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"ID3"):
        return "mp3"
    # An MPEG audio frame starts with 11 set sync bits and a valid layer.
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06:
        return "mp3"
    return "unknown"


def probe(
    data: IO[bytes], size: int, encoding: str, sample_rate: int, channels: int
) -> ProbedAudio:
    """Duration and channels of ``data`` declared as ``encoding``; raises AudioDecodeError."""
    if size == 0:
        raise AudioDecodeError("audio is empty")
    if size > constants.MAX_FILE_BYTES:
        raise AudioDecodeError(f"audio is {size} bytes, more than the limit of 1 GB")
    data.seek(0)
    container = detect_container(data.read(128))
    data.seek(0)
    if encoding == "LINEAR16_PCM":
        result = _probe_lpcm(container, size, sample_rate, channels)
    else:
        expected: Container = "ogg_opus" if encoding == "OGG_OPUS" else "mp3"
        if container != expected:
            raise AudioDecodeError(
                f"audio cannot be decoded as {encoding}: the data is {_NAMES[container]}"
            )
        result = _probe_with_mutagen(data, encoding)
    if result.duration_s > constants.MAX_DURATION_S:
        raise AudioDecodeError(
            f"audio lasts {result.duration_s:.0f} s, more than the limit of 4 hours"
        )
    return result


def _probe_lpcm(container: Container, size: int, sample_rate: int, channels: int) -> ProbedAudio:
    # Raw LPCM has no header; a recognisable container means the client forgot to strip it.
    if container != "unknown":
        raise AudioDecodeError(
            f"audio declared LINEAR16_PCM (raw, no header) but the data is {_NAMES[container]}"
        )
    frame = 2 * channels
    if size % frame:
        raise AudioDecodeError(
            f"LINEAR16_PCM audio of {size} bytes is not a whole number of "
            f"{channels}-channel 16-bit samples"
        )
    return ProbedAudio(duration_s=size / (frame * sample_rate), channels=channels)


def _probe_with_mutagen(data: IO[bytes], encoding: str) -> ProbedAudio:
    # Imported here so that importing the emulator stays cheap.
    import mutagen
    from mutagen.mp3 import MP3
    from mutagen.oggopus import OggOpus

    try:
        parsed: Any = OggOpus(data) if encoding == "OGG_OPUS" else MP3(data)  # type: ignore[no-untyped-call]
    except (mutagen.MutagenError, ValueError, EOFError) as exc:
        raise AudioDecodeError(f"audio cannot be decoded as {encoding}: {exc}") from exc
    length = float(parsed.info.length or 0.0)
    count = int(getattr(parsed.info, "channels", 1) or 1)
    if length <= 0:
        raise AudioDecodeError(f"audio cannot be decoded as {encoding}: no audio frames")
    return ProbedAudio(duration_s=length, channels=count)
