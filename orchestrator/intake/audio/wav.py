"""WAV: the fmt chunk tells the format; only the data chunk's PCM is uploaded."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from orchestrator.core.audio import AudioFacts
from orchestrator.core.constants import MAX_DURATION_S
from orchestrator.intake.audio.common import (
    AudioError,
    Unsupported,
    check_lpcm_rate,
    hours,
    read_at,
)

_WAVE_FORMATS = {
    1: "PCM",
    2: "Microsoft ADPCM",
    3: "32-bit float",
    6: "A-law",
    7: "mu-law",
    0x11: "IMA ADPCM",
    0x31: "GSM 6.10",
    0x55: "MPEG layer III",
}
_PCM_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
_MAX_CHUNKS = 10_000


@dataclass(frozen=True)
class _WavFormat:
    channels: int
    sample_rate: int
    block_align: int


def probe_wav(path: Path, f: BinaryIO, size: int, head: bytes) -> AudioFacts:
    if len(head) < 12:
        raise AudioError(path, f"truncated WAV: the file ends after {size} bytes, in its header")
    # The format, or why it is refused: a refused one is still checked against its data
    # chunk, so a WAV cut short (or claiming hours in a kilobyte) is called that whatever
    # its encoding, not sent to a conversion that would find it out later.
    fmt: _WavFormat | Unsupported | None = None
    pos = 12
    for _ in range(_MAX_CHUNKS):
        chunk_head = read_at(f, pos, 8)
        if len(chunk_head) < 8:
            missing = "fmt and data chunks" if fmt is None else "data chunk"
            raise AudioError(
                path, f"truncated WAV: the file ends after {size} bytes, before its {missing}"
            )
        chunk_id, chunk_size = struct.unpack("<4sI", chunk_head)
        if chunk_id == b"fmt ":
            try:
                fmt = _parse_wav_fmt(path, read_at(f, pos + 8, min(chunk_size, 64)), chunk_size)
            except Unsupported as refused:
                fmt = refused
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioError(path, "invalid WAV: the data chunk comes before the fmt chunk")
            if isinstance(fmt, Unsupported):
                raise _overrun(path, size, pos + 8, chunk_size) or fmt
            return _wav_info(path, size, fmt, pos + 8, chunk_size)
        pos = _next_chunk(f, pos, chunk_size)
        if pos > size:
            # The chunk is named by what it is, never by its bytes: messages quote no file.
            what = "fmt" if chunk_id == b"fmt " else "a"
            raise AudioError(
                path,
                f"truncated WAV: {what} chunk runs past the end of the file "
                f"({size} bytes), before the data chunk",
            )
    raise AudioError(path, f"invalid WAV: no data chunk in the first {_MAX_CHUNKS} chunks")


def _next_chunk(f: BinaryIO, pos: int, chunk_size: int) -> int:
    """The offset of the chunk after the one at `pos`, with RIFF's pad byte for odd sizes."""
    unpadded = pos + 8 + chunk_size
    if chunk_size % 2 == 0:
        return unpadded
    # Some writers forget the pad byte; trust whichever offset starts with a chunk id.
    if not _looks_like_chunk_id(read_at(f, unpadded + 1, 4)) and _looks_like_chunk_id(
        read_at(f, unpadded, 4)
    ):
        return unpadded
    return unpadded + 1


def _looks_like_chunk_id(raw: bytes) -> bool:
    return len(raw) == 4 and all(0x20 <= b <= 0x7E for b in raw)


def _parse_wav_fmt(path: Path, body: bytes, chunk_size: int) -> _WavFormat:
    if chunk_size < 16 or len(body) < 16:
        raise AudioError(path, "truncated WAV: the fmt chunk is shorter than 16 bytes")
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", body)
    fmt_tag = tag
    if tag == 0xFFFE:  # WAVE_FORMAT_EXTENSIBLE: the real format is in the subformat GUID
        if len(body) < 40:
            raise AudioError(path, "invalid WAV: the extensible fmt chunk is cut short")
        guid = body[24:40]
        fmt_tag = struct.unpack_from("<H", guid)[0] if guid[2:] == _PCM_GUID_TAIL else -1
    if fmt_tag != 1:
        name = _WAVE_FORMATS.get(fmt_tag, f"format code {tag:#06x}")
        raise Unsupported(
            path,
            f"unsupported WAV encoding: {name}; SpeechKit accepts WAV only with "
            "16-bit PCM (convert it, e.g. `sox in.wav -b 16 -e signed-integer out.wav`)",
        )
    if bits != 16:
        raise Unsupported(
            path,
            f"unsupported WAV sample size: {bits}-bit PCM; SpeechKit accepts 16-bit PCM only",
        )
    if channels < 1 or rate < 1 or block_align != 2 * channels:
        raise AudioError(
            path,
            f"invalid WAV fmt chunk: {channels} channels, {rate} Hz, "
            f"block align {block_align} (16-bit PCM needs 2 bytes per channel)",
        )
    return _WavFormat(channels=channels, sample_rate=rate, block_align=block_align)


def _overrun(path: Path, size: int, offset: int, declared: int) -> AudioError | None:
    """The refusal of a data chunk that claims more bytes than the file holds after it (a
    size of all ones is a writer's "to the end of the file"), or None."""
    available = size - offset
    if declared == 0xFFFFFFFF or declared <= available:
        return None
    return AudioError(
        path,
        f"truncated WAV: the header claims {declared} bytes of audio data but the "
        f"file holds only {max(available, 0)} after the header",
    )


def _wav_info(path: Path, size: int, fmt: _WavFormat, offset: int, declared: int) -> AudioFacts:
    available = size - offset
    bytes_per_s = fmt.sample_rate * fmt.block_align
    if declared == 0xFFFFFFFF:
        # Writers that stream to a pipe cannot go back to fill the size in: data runs to EOF.
        length = available
    else:
        claimed_s = declared / bytes_per_s
        if claimed_s > MAX_DURATION_S and declared > available:
            # A claim the file cannot hold (100 hours in a kilobyte): no recording to split.
            raise AudioError(
                path,
                f"the WAV header claims {hours(claimed_s)} of audio ({declared} bytes of "
                f"data); SpeechKit accepts at most 4 h",
            )
        overrun = _overrun(path, size, offset, declared)
        if overrun is not None:
            raise overrun
        length = declared
    length -= length % fmt.block_align  # a trailing partial frame is not audio
    check_lpcm_rate(path, fmt.sample_rate, "in the WAV header")
    return AudioFacts(
        container="wav",
        encoding="LINEAR16_PCM",
        duration_s=length / bytes_per_s,
        channels=fmt.channels,
        sample_rate=fmt.sample_rate,
        size_bytes=size,
        data_offset=offset,
        data_length=length,
    )
