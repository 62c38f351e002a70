"""What the emulator learns from the audio bytes: format, duration, channels, silence.

The declared format must agree with the bytes; otherwise the operation ends with an error,
as the real service cannot decode such audio either. Silence is only known for
uncompressed audio (raw LPCM, WAV, A-law), where it is read from the samples.
"""

from __future__ import annotations

import wave
from collections.abc import Callable
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
_BLOCK = 1024 * 1024
# A-law codes of a zero sample (0xD5 and, for the other sign, 0x55).
_ALAW_SILENCE = frozenset(b"\xd5\x55")


class AudioDecodeError(Exception):
    """The bytes cannot be decoded as declared; the message is the operation's error text."""


class UnsupportedFormatError(Exception):
    """A format the real service accepts but this emulator cannot decode."""


@dataclass(frozen=True)
class ProbedAudio:
    """Duration and channel count of the audio, as the recogniser would see them."""

    duration_s: float
    channels: int
    silent: bool = False


def detect_header(head: bytes) -> Container:
    """The container whose header (a magic string of 3 or more bytes) starts ``head``.

    Unlike :func:`detect_container` it never guesses from an MPEG frame sync: two bytes
    that raw samples often are (a first sample of -1 is ``ff ff``, of -2817 ``ff f4``).
    """
    if head.startswith(b"OggS"):
        return "ogg_opus" if b"OpusHead" in head[:128] else "ogg_other"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"ID3"):
        return "mp3"
    return "unknown"


def detect_container(head: bytes) -> Container:
    """The container named by the first bytes (at least 64 of them, when the file has them)."""
    found = detect_header(head)
    if found != "unknown":
        return found
    # An MPEG audio frame starts with 11 set sync bits and a valid layer.
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06:
        return "mp3"
    return "unknown"


def probe(
    data: IO[bytes], size: int, encoding: str, sample_rate: int, channels: int
) -> ProbedAudio:
    """Duration, channels and silence of ``data`` declared as ``encoding``.

    ``encoding`` is ``LINEAR16_PCM`` (raw, no header), ``WAV``, ``OGG_OPUS`` or ``MP3``;
    raises AudioDecodeError when the bytes are not that.
    """
    if size == 0:
        raise AudioDecodeError("audio is empty")
    if size > constants.MAX_FILE_BYTES:
        raise AudioDecodeError(f"audio is {size} bytes, more than the limit of 1 GB")
    data.seek(0)
    head = data.read(128)
    container = detect_container(head)
    data.seek(0)
    if encoding == "LINEAR16_PCM":
        # Raw samples may begin with anything, an MPEG frame sync included: only a real
        # header's magic string counts against them.
        result = _probe_lpcm(data, detect_header(head), size, sample_rate, channels)
    elif encoding == "WAV":
        result = _probe_wav(data, container)
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


def require_decodable(content_type: str) -> None:
    """Raise UnsupportedFormatError for an asr_xml format the emulator cannot decode."""
    # No pure-Python Speex or WebM reader is at hand; the real service takes both.
    if content_type in ("audio/x-speex", "audio/webm;codecs=opus"):
        raise UnsupportedFormatError(
            f"{content_type} is accepted by the real service, but this emulator cannot "
            "decode it; send audio/x-wav, audio/x-mpeg-3, audio/ogg;codecs=opus, "
            "audio/x-pcm;bit=16;rate=16000 or 8000, or audio/x-alaw;bit=13;rate=8000"
        )


def probe_content_type(data: IO[bytes], size: int, content_type: str) -> ProbedAudio:
    """Probe asr_xml audio by its (normalised) Content-Type, as the server hears it.

    Raises UnsupportedFormatError for formats the emulator cannot decode, AudioDecodeError
    for bytes that are not what the Content-Type says.
    """
    require_decodable(content_type)
    if content_type == "audio/x-alaw;bit=13;rate=8000":
        if size == 0:
            raise AudioDecodeError("audio is empty")
        data.seek(0)
        silent = _all_blocks(data, lambda block: set(block) <= _ALAW_SILENCE)
        return ProbedAudio(duration_s=size / 8000, channels=1, silent=silent)
    encodings = {
        "audio/x-wav": "WAV",
        "audio/x-mpeg-3": "MP3",
        "audio/ogg;codecs=opus": "OGG_OPUS",
        "audio/x-pcm;bit=16;rate=16000": "LINEAR16_PCM",
        "audio/x-pcm;bit=16;rate=8000": "LINEAR16_PCM",
    }
    rate = 8000 if content_type.endswith("rate=8000") else 16000
    return probe(data, size, encodings[content_type], rate, 1)


def _all_blocks(data: IO[bytes], check: Callable[[bytes], bool], limit: int | None = None) -> bool:
    """True when ``check`` holds for every block of ``data`` (up to ``limit`` bytes)."""
    left = limit
    while left is None or left > 0:
        block = data.read(_BLOCK if left is None else min(_BLOCK, left))
        if not block:
            return True
        if not check(block):
            return False
        if left is not None:
            left -= len(block)
    return True


def _is_zero(block: bytes) -> bool:
    return block.count(0) == len(block)


def _probe_lpcm(
    data: IO[bytes], container: Container, size: int, sample_rate: int, channels: int
) -> ProbedAudio:
    # Raw LPCM has no header; a WAV, Ogg or ID3 header means the client forgot to strip it.
    # A guess: the documentation does not say whether the service refuses such data or
    # reads the header as a click of noise; the daemon never sends one, so refusing it
    # keeps a bug of ours visible. An MPEG frame sync is not a header (see detect_header).
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
    data.seek(0)
    silent = _all_blocks(data, _is_zero)
    return ProbedAudio(duration_s=size / (frame * sample_rate), channels=channels, silent=silent)


def _probe_wav(data: IO[bytes], container: Container) -> ProbedAudio:
    if container != "wav":
        raise AudioDecodeError(f"audio cannot be decoded as WAV: the data is {_NAMES[container]}")
    try:
        with wave.open(data, "rb") as reader:
            channels = reader.getnchannels()
            width = reader.getsampwidth()
            rate = reader.getframerate()
            if width != 2:
                raise AudioDecodeError(
                    f"WAV audio must hold 16-bit linear PCM, not {8 * width}-bit samples"
                )
            # A streamed WAV may claim more frames than the file holds: count what is there.
            frames, silent = 0, True
            while block := reader.readframes(_BLOCK // (2 * channels)):
                frames += len(block) // (2 * channels)
                silent = silent and _is_zero(block)
    except (wave.Error, EOFError) as exc:
        raise AudioDecodeError(f"audio cannot be decoded as WAV: {exc}") from exc
    if frames == 0 or rate <= 0:
        raise AudioDecodeError("audio cannot be decoded as WAV: no audio frames")
    return ProbedAudio(duration_s=frames / rate, channels=channels, silent=silent)


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
