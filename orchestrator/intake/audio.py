"""Probe audio files for SpeechKit: format from the bytes, duration, channels, rate, limits.

Only headers are read (a few kilobytes at each end of the file); the upload bytes are
streamed by `iter_upload_chunks`, with a WAV file's header stripped so the object is the
raw LPCM that API v2 calls LINEAR16_PCM.
"""

from __future__ import annotations

import hashlib
import math
import os
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from mutagen import MutagenError
from mutagen.mp3 import MPEGInfo

from orchestrator.core.constants import (
    BILLING_MIN_S_PER_PAIR,
    LPCM_SAMPLE_RATES,
    MAX_DURATION_S,
    MAX_FILE_BYTES,
)

Encoding = Literal["OGG_OPUS", "MP3", "LINEAR16_PCM"]
Container = Literal["ogg_opus", "mp3", "wav", "raw"]

_ENCODING_OF: dict[Container, Encoding] = {
    "ogg_opus": "OGG_OPUS",
    "mp3": "MP3",
    "wav": "LINEAR16_PCM",
    "raw": "LINEAR16_PCM",
}
# What a file name's extension promises; extensions not listed here promise nothing.
_EXTENSION_FAMILY = {
    ".ogg": "ogg",
    ".opus": "ogg",
    ".oga": "ogg",
    ".mp3": "mp3",
    ".wav": "wav",
    ".wave": "wav",
    ".raw": "raw",
    ".pcm": "raw",
    ".lpcm": "raw",
}
_FAMILY_EXTENSION = {"ogg": ".ogg or .opus", "mp3": ".mp3", "wav": ".wav"}
_FAMILY_LABEL = {"ogg": "Ogg", "mp3": "MP3", "wav": "WAV", "raw": "raw LPCM"}
_ALLOWED_FORMATS = (
    "SpeechKit accepts Ogg Opus, MP3, 16-bit WAV, or raw 16-bit LPCM "
    "(declared with encoding: LINEAR16_PCM and sample_rate)"
)
_RATES_TEXT = ", ".join(str(r) for r in LPCM_SAMPLE_RATES) + " Hz"
_HEAD_BYTES = 64 * 1024
_OGG_MAX_PAGE = 27 + 255 + 255 * 255
_OPUS_RATE = 48000


@dataclass(frozen=True)
class AudioInfo:
    """What `probe` learned about one audio file, and which of its bytes to upload."""

    path: Path
    container: Container
    encoding: Encoding
    duration_s: float
    channels: int
    sample_rate: int
    size_bytes: int
    data_offset: int
    data_length: int


class AudioError(Exception):
    """An audio file SpeechKit cannot take, or that contradicts what was declared about it."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class _Kind:
    """What the first bytes say: a supported container, or the name of something else."""

    family: str | None  # "ogg", "mp3", "wav" or None when the bytes are no container we know
    label: str | None  # a human name of the format, None when unknown
    container: Container | None = None  # set when SpeechKit accepts the format


def probe(
    path: Path,
    *,
    encoding: Encoding | None = None,
    sample_rate: int | None = None,
    channels: int | None = None,
) -> AudioInfo:
    """Identify `path` from its bytes and check it against SpeechKit's limits.

    `encoding`, `sample_rate` and `channels` are what the manifest declared (None: not
    declared); each must agree with the file. Raw LPCM (no header) is accepted only when
    declared LINEAR16_PCM with a sample_rate. Raises AudioError.
    """
    size = _check_file(path)
    try:
        with path.open("rb") as f:
            head = f.read(_HEAD_BYTES)
            kind = _sniff(head)
            _check_extension(path, kind)
            if kind.container is None:
                if kind.label is not None:
                    raise AudioError(path, f"the file is {kind.label}; {_ALLOWED_FORMATS}")
                info = _probe_raw(path, size, head, encoding, sample_rate, channels)
            else:
                _check_declared_encoding(path, kind, encoding)
                if kind.container == "ogg_opus":
                    info = _probe_ogg_opus(path, f, size, head)
                elif kind.container == "mp3":
                    info = _probe_mp3(path, f, size)
                else:
                    info = _probe_wav(path, f, size, head)
    except OSError as e:
        raise AudioError(path, f"cannot read the file: {e.strerror or e}") from e
    _check_declared_format(path, info, head, sample_rate, channels)
    _check_limits(info)
    return info


def iter_upload_chunks(info: AudioInfo, chunk_size: int = 8 * 1024 * 1024) -> Iterator[bytes]:
    """Yield the bytes to upload (a WAV file's PCM data only), at most `chunk_size` at a time.

    Raises AudioError when the file has become shorter than it was when probed.
    """
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, not {chunk_size}")
    remaining = info.data_length
    try:
        with info.path.open("rb") as f:
            f.seek(info.data_offset)
            while remaining > 0:
                chunk = f.read(min(chunk_size, remaining))
                if not chunk:
                    raise AudioError(
                        info.path,
                        f"the file changed after it was checked: it ended "
                        f"{remaining} bytes before the {info.data_length} bytes to upload",
                    )
                remaining -= len(chunk)
                yield chunk
    except OSError as e:
        raise AudioError(info.path, f"cannot read the file: {e.strerror or e}") from e


def content_hash(info: AudioInfo) -> str:
    """The sha256 (hex) of exactly the bytes `iter_upload_chunks` yields, read streamed."""
    digest = hashlib.sha256()
    for chunk in iter_upload_chunks(info, 1024 * 1024):
        digest.update(chunk)
    return digest.hexdigest()


def billable_seconds(duration_s: float, channels: int) -> float:
    """SpeechKit's billed seconds: channels rounded up to pairs, at least 15 s per pair."""
    return max(duration_s, BILLING_MIN_S_PER_PAIR) * math.ceil(channels / 2)


# ---- the file itself -----------------------------------------------------------------------


def _check_file(path: Path) -> int:
    try:
        st = path.stat()
    except FileNotFoundError as e:
        raise AudioError(path, "file not found") from e
    except NotADirectoryError as e:
        raise AudioError(path, "file not found (a parent in the path is not a directory)") from e
    except OSError as e:
        raise AudioError(path, f"cannot read the file: {e.strerror or e}") from e
    if stat.S_ISDIR(st.st_mode):
        raise AudioError(path, "not a regular file but a directory; name an audio file")
    if not stat.S_ISREG(st.st_mode):
        raise AudioError(path, "not a regular file (a device, FIFO or socket); name an audio file")
    if not os.access(path, os.R_OK):
        raise AudioError(path, "cannot read the file: permission denied")
    if st.st_size == 0:
        raise AudioError(path, "the file is empty (0 bytes)")
    return st.st_size


def _sniff(head: bytes) -> _Kind:
    """Name the format from the first bytes; Ogg's codec is in its first packet."""
    if head.startswith(b"OggS"):
        return _sniff_ogg(head)
    if head.startswith(b"RIFF") and len(head) < 12:
        return _Kind("wav", "WAV", "wav")  # _probe_wav reports it cut short
    if head[:4] in (b"RIFF", b"RIFX", b"RF64") and head[8:12] == b"WAVE":
        if head[:4] == b"RIFF":
            return _Kind("wav", "WAV", "wav")
        name = "big-endian WAV (RIFX)" if head[:4] == b"RIFX" else "RF64 (64-bit WAV)"
        return _Kind("wav", name)
    if head.startswith(b"ID3"):
        return _Kind("mp3", "MP3", "mp3")
    frame = _mpeg_frame(head, 0)
    if frame is not None:
        layer, length = frame
        # One valid header can be chance in raw PCM; require the next frame to follow it.
        if len(head) > length and _mpeg_frame(head, length) is None:
            return _Kind(None, None)
        if layer == 3:
            return _Kind("mp3", "MP3", "mp3")
        return _Kind("mp3", f"MPEG audio layer {'I' * layer} (not MP3, which is layer III)")
    others = (
        (b"fLaC", "FLAC"),
        (b"#!AMR", "AMR"),
        (b"\x1aE\xdf\xa3", "Matroska/WebM"),
        (b".snd", "Sun/NeXT audio (.au)"),
        (b"\x30\x26\xb2\x75", "ASF/WMA"),
    )
    for magic, name in others:
        if head.startswith(magic):
            return _Kind(None, name)
    if head[4:8] == b"ftyp":
        return _Kind(None, "MP4/M4A")
    if head.startswith(b"FORM") and head[8:12] in (b"AIFF", b"AIFC"):
        return _Kind(None, "AIFF")
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return _Kind(None, "AAC (ADTS)")
    return _Kind(None, None)


def _sniff_ogg(head: bytes) -> _Kind:
    if len(head) < 28:
        return _Kind("ogg", "Ogg", "ogg_opus")  # _probe_ogg_opus reports it cut short
    body = head[27 + head[26] :]
    codecs = (
        (b"OpusHead", "Ogg Opus"),
        (b"\x01vorbis", "Ogg Vorbis"),
        (b"\x7fFLAC", "Ogg FLAC"),
        (b"Speex   ", "Ogg Speex"),
        (b"\x80theora", "Ogg Theora (video)"),
    )
    for magic, name in codecs:
        if body.startswith(magic):
            return _Kind("ogg", name, "ogg_opus" if magic == b"OpusHead" else None)
    if len(body) < 8:
        return _Kind("ogg", "Ogg", "ogg_opus")  # cut short inside the first page
    return _Kind("ogg", "Ogg with an unknown codec")


def _check_extension(path: Path, kind: _Kind) -> None:
    ext = path.suffix.lower()
    promised = _EXTENSION_FAMILY.get(ext)
    if promised is None or promised == kind.family:
        return
    if promised == "raw" and kind.family is None and kind.label is None:
        return
    what = kind.label or "unrecognised (not Ogg, MP3 or WAV)"
    if kind.family is not None and kind.family != promised:
        hint = f"; rename it to end in {_FAMILY_EXTENSION[kind.family]}"
    else:
        hint = ""
    raise AudioError(
        path,
        f"the name ends in {ext} ({_FAMILY_LABEL[promised]}) but the bytes are {what}{hint}",
    )


def _check_declared_encoding(path: Path, kind: _Kind, encoding: Encoding | None) -> None:
    assert kind.container is not None
    actual = _ENCODING_OF[kind.container]
    if encoding is not None and encoding != actual:
        raise AudioError(
            path,
            f"encoding is declared {encoding} but the file is {kind.label}, "
            f"which is sent as {actual}; declare {actual} or leave encoding out",
        )


def _check_declared_format(
    path: Path,
    info: AudioInfo,
    head: bytes,
    sample_rate: int | None,
    channels: int | None,
) -> None:
    where = {"wav": "the WAV header says", "ogg_opus": "the Opus header says"}.get(
        info.container, "the file has"
    )
    if channels is not None and channels != info.channels:
        raise AudioError(path, f"channels is declared {channels} but {where} {info.channels}")
    if sample_rate is None or sample_rate == info.sample_rate:
        return
    if info.container == "ogg_opus":
        # Opus always decodes at 48 kHz; its header also records the rate of the source.
        source_rate = struct.unpack_from("<I", head, 27 + head[26] + 12)[0]
        if sample_rate == source_rate:
            return
        raise AudioError(
            path,
            f"sample_rate is declared {sample_rate} Hz but Ogg Opus decodes at "
            f"{_OPUS_RATE} Hz (this file was made from {source_rate} Hz audio); "
            "leave sample_rate out for Ogg Opus",
        )
    raise AudioError(
        path, f"sample_rate is declared {sample_rate} Hz but {where} {info.sample_rate} Hz"
    )


def _check_limits(info: AudioInfo) -> None:
    if info.data_length > MAX_FILE_BYTES:
        raise AudioError(
            info.path,
            f"{_gib(info.data_length)} to upload; SpeechKit accepts at most 1 GB per file",
        )
    if info.duration_s > MAX_DURATION_S:
        raise AudioError(
            info.path,
            f"the audio lasts {_hours(info.duration_s)}; SpeechKit accepts at most 4 h",
        )
    if info.duration_s <= 0:
        raise AudioError(info.path, "the audio has zero duration (no samples)")


# ---- raw LPCM --------------------------------------------------------------------------------


def _probe_raw(
    path: Path,
    size: int,
    head: bytes,
    encoding: Encoding | None,
    sample_rate: int | None,
    channels: int | None,
) -> AudioInfo:
    if encoding != "LINEAR16_PCM":
        said = f"declared {encoding}, but the" if encoding else "the"
        raise AudioError(
            path,
            f"unknown audio format: {said} bytes are not Ogg Opus, MP3 or WAV "
            f"(they start with {head[:8].hex(' ')}); {_ALLOWED_FORMATS}",
        )
    if sample_rate is None:
        raise AudioError(
            path,
            "raw LPCM (no header) needs sample_rate declared "
            f"({_RATES_TEXT}); the bytes do not say it",
        )
    _check_lpcm_rate(path, sample_rate, "declared")
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
    if duration > MAX_DURATION_S:
        raise AudioError(
            path,
            f"{size} bytes of raw LPCM at the declared {sample_rate} Hz and {channel_count} "
            f"channel(s) last {_hours(duration)}; SpeechKit accepts at most 4 h",
        )
    return AudioInfo(
        path=path,
        container="raw",
        encoding="LINEAR16_PCM",
        duration_s=duration,
        channels=channel_count,
        sample_rate=sample_rate,
        size_bytes=size,
        data_offset=0,
        data_length=size,
    )


def _check_lpcm_rate(path: Path, rate: int, source: str) -> None:
    if rate not in LPCM_SAMPLE_RATES:
        raise AudioError(
            path,
            f"unsupported LPCM sample rate {rate} Hz ({source}); SpeechKit accepts "
            f"{_RATES_TEXT} for LINEAR16_PCM (resample it, or convert it to Ogg Opus)",
        )


# ---- WAV -----------------------------------------------------------------------------------

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


def _probe_wav(path: Path, f: BinaryIO, size: int, head: bytes) -> AudioInfo:
    if len(head) < 12:
        raise AudioError(path, f"truncated WAV: the file ends after {size} bytes, in its header")
    fmt: _WavFormat | None = None
    pos = 12
    for _ in range(_MAX_CHUNKS):
        chunk_head = _read_at(f, pos, 8)
        if len(chunk_head) < 8:
            missing = "fmt and data chunks" if fmt is None else "data chunk"
            raise AudioError(
                path, f"truncated WAV: the file ends after {size} bytes, before its {missing}"
            )
        chunk_id, chunk_size = struct.unpack("<4sI", chunk_head)
        if chunk_id == b"fmt ":
            fmt = _parse_wav_fmt(path, _read_at(f, pos + 8, min(chunk_size, 64)), chunk_size)
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioError(path, "invalid WAV: the data chunk comes before the fmt chunk")
            return _wav_info(path, size, fmt, pos + 8, chunk_size)
        pos = _next_chunk(f, pos, chunk_size)
        if pos > size:
            name = chunk_id.decode("latin-1")
            raise AudioError(
                path,
                f"truncated WAV: the {name!r} chunk runs past the end of the file "
                f"({size} bytes), before the data chunk",
            )
    raise AudioError(path, f"invalid WAV: no data chunk in the first {_MAX_CHUNKS} chunks")


def _next_chunk(f: BinaryIO, pos: int, chunk_size: int) -> int:
    """The offset of the chunk after the one at `pos`, with RIFF's pad byte for odd sizes."""
    unpadded = pos + 8 + chunk_size
    if chunk_size % 2 == 0:
        return unpadded
    # Some writers forget the pad byte; trust whichever offset starts with a chunk id.
    if not _looks_like_chunk_id(_read_at(f, unpadded + 1, 4)) and _looks_like_chunk_id(
        _read_at(f, unpadded, 4)
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
        raise AudioError(
            path,
            f"unsupported WAV encoding: {name}; SpeechKit accepts WAV only with "
            "16-bit PCM (convert it, e.g. `sox in.wav -b 16 -e signed-integer out.wav`)",
        )
    if bits != 16:
        raise AudioError(
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


def _wav_info(path: Path, size: int, fmt: _WavFormat, offset: int, declared: int) -> AudioInfo:
    available = size - offset
    bytes_per_s = fmt.sample_rate * fmt.block_align
    if declared == 0xFFFFFFFF:
        # Writers that stream to a pipe cannot go back to fill the size in: data runs to EOF.
        length = available
    else:
        claimed_s = declared / bytes_per_s
        if claimed_s > MAX_DURATION_S:
            raise AudioError(
                path,
                f"the WAV header claims {_hours(claimed_s)} of audio ({declared} bytes of "
                f"data); SpeechKit accepts at most 4 h",
            )
        if declared > available:
            raise AudioError(
                path,
                f"truncated WAV: the header claims {declared} bytes of audio data but the "
                f"file holds only {max(available, 0)} after the header",
            )
        length = declared
    length -= length % fmt.block_align  # a trailing partial frame is not audio
    _check_lpcm_rate(path, fmt.sample_rate, "in the WAV header")
    return AudioInfo(
        path=path,
        container="wav",
        encoding="LINEAR16_PCM",
        duration_s=length / bytes_per_s,
        channels=fmt.channels,
        sample_rate=fmt.sample_rate,
        size_bytes=size,
        data_offset=offset,
        data_length=length,
    )


# ---- Ogg Opus ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _OggPage:
    offset: int
    granule: int
    serial: int
    sequence: int
    end: int


def _parse_ogg_page(buf: bytes, at: int, base: int) -> _OggPage | None:
    """The page whose header starts at `buf[at]` (file offset `base + at`), if it is complete."""
    if len(buf) < at + 27 or buf[at : at + 4] != b"OggS" or buf[at + 4] != 0:
        return None
    granule, serial, sequence = struct.unpack_from("<qII", buf, at + 6)
    segments = buf[at + 26]
    table = buf[at + 27 : at + 27 + segments]
    if len(table) < segments:
        return None
    end = base + at + 27 + segments + sum(table)
    return _OggPage(base + at, granule, serial, sequence, end)


def _probe_ogg_opus(path: Path, f: BinaryIO, size: int, head: bytes) -> AudioInfo:
    first = _parse_ogg_page(head, 0, 0)
    packet_at = 27 + head[26] if len(head) > 26 else len(head)
    opus_head = head[packet_at : packet_at + 19]
    if first is None or first.end > size or len(opus_head) < 19:
        raise AudioError(path, f"truncated Ogg: the file ends after {size} bytes, in its header")
    channels = opus_head[9]
    pre_skip = struct.unpack_from("<H", opus_head, 10)[0]
    if channels < 1:
        raise AudioError(path, "invalid Ogg Opus: the header says 0 channels")
    last = _last_ogg_page(path, f, size, first.serial)
    if last.granule <= 0 or last.sequence == first.sequence:
        raise AudioError(path, "truncated Ogg: the stream has its Opus headers but no audio pages")
    duration = max(last.granule - pre_skip, 0) / _OPUS_RATE
    if duration > MAX_DURATION_S:
        raise AudioError(
            path,
            f"the last Ogg page claims {_hours(duration)} of audio (granule position "
            f"{last.granule}); SpeechKit accepts at most 4 h",
        )
    return AudioInfo(
        path=path,
        container="ogg_opus",
        encoding="OGG_OPUS",
        duration_s=duration,
        channels=channels,
        sample_rate=_OPUS_RATE,
        size_bytes=size,
        data_offset=0,
        data_length=size,
    )


def _last_ogg_page(path: Path, f: BinaryIO, size: int, serial: int) -> _OggPage:
    """The last page of the stream that carries a granule position (the end time)."""
    start = max(0, size - _OGG_MAX_PAGE - 27)
    tail = _read_at(f, start, size - start)
    at = tail.rfind(b"OggS")
    seen_complete = False
    while at >= 0:
        page = _parse_ogg_page(tail, at, start)
        if page is not None and page.serial == serial:
            if page.end > size and not seen_complete:
                raise AudioError(
                    path,
                    f"truncated Ogg: the last page starts at byte {page.offset} and needs "
                    f"{page.end - page.offset} bytes, but the file ends at byte {size}",
                )
            if page.end <= size:
                seen_complete = True
                if page.granule != -1:  # -1: no packet ends on this page
                    return page
        at = tail.rfind(b"OggS", 0, at)
    raise AudioError(
        path, "truncated Ogg: no complete page with an end time in the last 64 KB of the file"
    )


# ---- MP3 -----------------------------------------------------------------------------------

_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_MPEG_BITRATES = {
    (1, 1): (32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (1, 2): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (1, 3): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (2, 1): (32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (2, 2): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (2, 3): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}


def _mpeg_frame(buf: bytes, at: int) -> tuple[int, int] | None:
    """(layer, frame length) of a valid MPEG audio frame header at `buf[at]`, else None."""
    if len(buf) < at + 4 or buf[at] != 0xFF or buf[at + 1] & 0xE0 != 0xE0:
        return None
    version_bits = (buf[at + 1] >> 3) & 3
    layer = 4 - ((buf[at + 1] >> 1) & 3)
    bitrate_index = buf[at + 2] >> 4
    rate_index = (buf[at + 2] >> 2) & 3
    if version_bits == 1 or layer == 4 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    padding = (buf[at + 2] >> 1) & 1
    mpeg1 = version_bits == 3
    bitrate = _MPEG_BITRATES[(1 if mpeg1 else 2, layer)][bitrate_index - 1] * 1000
    rate = _MPEG_RATES[version_bits][rate_index]
    if layer == 1:
        length = (12 * bitrate // rate + padding) * 4
    elif layer == 3 and not mpeg1:
        length = 72 * bitrate // rate + padding
    else:
        length = 144 * bitrate // rate + padding
    return layer, length


def _probe_mp3(path: Path, f: BinaryIO, size: int) -> AudioInfo:
    f.seek(0)
    try:
        mpeg = MPEGInfo(f)
    except MutagenError as e:
        raise AudioError(
            path, "truncated MP3: no MPEG audio frames found (after the ID3 tag, if any)"
        ) from e
    layer = int(mpeg.layer)
    if layer != 3:
        raise AudioError(
            path,
            f"the file is MPEG audio layer {'I' * layer}, not MP3 (layer III); {_ALLOWED_FORMATS}",
        )
    duration = float(mpeg.length)
    audio_bytes = size - int(mpeg.frame_offset)
    if duration > MAX_DURATION_S:
        raise AudioError(
            path,
            f"the MP3 header claims {_hours(duration)} of audio; SpeechKit accepts at most 4 h",
        )
    # A VBR header gives the length of the whole stream; a copy cut short holds less of it.
    expected_bytes = duration * int(mpeg.bitrate) / 8
    if audio_bytes < 0.9 * expected_bytes:
        raise AudioError(
            path,
            f"truncated MP3: its header claims {duration:.1f} s (about {int(expected_bytes)} "
            f"bytes) but the file holds {audio_bytes} bytes of audio",
        )
    return AudioInfo(
        path=path,
        container="mp3",
        encoding="MP3",
        duration_s=duration,
        channels=int(mpeg.channels),
        sample_rate=int(mpeg.sample_rate),
        size_bytes=size,
        data_offset=0,
        data_length=size,
    )


# ---- helpers -------------------------------------------------------------------------------


def _read_at(f: BinaryIO, offset: int, count: int) -> bytes:
    f.seek(offset)
    return f.read(count)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h"


def _gib(count: int) -> str:
    return f"{count} bytes ({count / 1024**3:.2f} GB)"
