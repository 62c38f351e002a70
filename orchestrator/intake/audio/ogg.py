"""Ogg Opus: channels from the OpusHead, duration from the last page's granule position."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from orchestrator.core.audio import AudioFacts
from orchestrator.core.constants import MAX_DURATION_S
from orchestrator.intake.audio.common import OPUS_RATE, AudioError, hours, read_at

_OGG_MAX_PAGE = 27 + 255 + 255 * 255
# Opus's lowest bit rate (RFC 6716, section 2.1.1: 6 kb/s to 510 kb/s): a file smaller
# than its duration at this rate cannot hold the audio it claims.
_OPUS_MIN_BIT_RATE = 6000


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


def probe_ogg_opus(path: Path, f: BinaryIO, size: int, head: bytes) -> AudioFacts:
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
    duration = max(last.granule - pre_skip, 0) / OPUS_RATE
    if duration > MAX_DURATION_S and size * 8 < duration * _OPUS_MIN_BIT_RATE:
        # A claim the file cannot hold: no recording to split.
        raise AudioError(
            path,
            f"the last Ogg page claims {hours(duration)} of audio (granule position "
            f"{last.granule}); SpeechKit accepts at most 4 h",
        )
    return AudioFacts(
        container="ogg_opus",
        encoding="OGG_OPUS",
        duration_s=duration,
        channels=channels,
        sample_rate=OPUS_RATE,
        size_bytes=size,
        data_offset=0,
        data_length=size,
    )


def _last_ogg_page(path: Path, f: BinaryIO, size: int, serial: int) -> _OggPage:
    """The last page of the stream that carries a granule position (the end time)."""
    start = max(0, size - _OGG_MAX_PAGE - 27)
    tail = read_at(f, start, size - start)
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
