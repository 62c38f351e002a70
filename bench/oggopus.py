"""Silent Ogg Opus files of any length in a few kilobytes (pure bytes, no encoder needed).

The backlog regime needs hundreds of recordings of minutes each. As 8 kHz WAV they would
be gigabytes pushed through a Python S3 server for every contender; as Ogg Opus made of
empty frames they are about 35 bytes per audio second, and every reader (the daemon's
probe, the emulator's mutagen) takes the duration from the last page's granule position,
exactly as for real speech.

Each packet is one TOC byte (RFC 6716 section 3.1): configuration 3 (SILK narrowband,
60 ms), mono, code 0, so the packet holds one frame of length zero, which a decoder plays
as silence (packet-loss concealment). Pages follow RFC 3533 and the Opus mapping RFC 7845:
an ``OpusHead`` page, an ``OpusTags`` page, then audio pages whose granule positions count
48 kHz samples plus the pre-skip; the last page ends the stream at the exact duration.
"""

from __future__ import annotations

import math
import struct

OPUS_RATE = 48000
PRE_SKIP = 312  # what libopus encoders write; any value works for these frames
PACKET_SAMPLES = 2880  # 60 ms at 48 kHz
_TOC_SILK_NB_60MS_MONO = bytes([3 << 3])
_MAX_SEGMENTS = 255
_FLAG_BOS = 0x02
_FLAG_EOS = 0x04
_VENDOR = b"speechkit-orchestrator bench (silence)"


def _crc_table() -> tuple[int, ...]:
    # Ogg's CRC-32: polynomial 0x04C11DB7, MSB first, initial value 0, no final xor
    # (not zlib's reflected CRC-32).
    table = []
    for index in range(256):
        crc = index << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return tuple(table)


_CRC_TABLE = _crc_table()


def ogg_crc(data: bytes) -> int:
    """The CRC-32 of an Ogg page (computed with its checksum field set to zero)."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC_TABLE[((crc >> 24) ^ byte) & 0xFF]
    return crc


def _lacing(packets: list[bytes]) -> bytes:
    values = bytearray()
    for packet in packets:
        full, rest = divmod(len(packet), 255)
        values += b"\xff" * full + bytes([rest])
    if len(values) > _MAX_SEGMENTS:
        raise ValueError("too many segments for one Ogg page")
    return bytes(values)


def ogg_page(
    packets: list[bytes], *, granule: int, serial: int, sequence: int, flags: int = 0
) -> bytes:
    """One Ogg page holding whole ``packets``, with its CRC filled in."""
    lacing = _lacing(packets)
    header = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, granule, serial, sequence, 0, len(lacing))
    page = bytearray(header + lacing + b"".join(packets))
    struct.pack_into("<I", page, 22, ogg_crc(bytes(page)))
    return bytes(page)


def opus_head(channels: int = 1, input_rate: int = OPUS_RATE) -> bytes:
    """The identification header (RFC 7845 section 5.1), channel mapping family 0."""
    return struct.pack("<8sBBHIhB", b"OpusHead", 1, channels, PRE_SKIP, input_rate, 0, 0)


def opus_tags(comments: tuple[str, ...] = ()) -> bytes:
    """The comment header (RFC 7845 section 5.2)."""
    body = struct.pack("<I", len(_VENDOR)) + _VENDOR + struct.pack("<I", len(comments))
    for comment in comments:
        data = comment.encode("utf-8")
        body += struct.pack("<I", len(data)) + data
    return b"OpusTags" + body


def samples_for(duration_s: float) -> int:
    """The whole number of 48 kHz samples nearest to ``duration_s`` (at least one)."""
    if not (duration_s > 0 and math.isfinite(duration_s)):
        raise ValueError(f"duration must be positive, not {duration_s}")
    return max(1, round(duration_s * OPUS_RATE))


def silent_opus(duration_s: float, *, serial: int = 1, comments: tuple[str, ...] = ()) -> bytes:
    """A mono Ogg Opus stream of silence lasting ``duration_s`` (to 1/48000 s).

    ``comments`` go into the tags: distinct comments make distinct files (the daemon
    recognises identical audio only once).
    """
    total = samples_for(duration_s)
    packets = math.ceil(total / PACKET_SAMPLES)
    pages = [
        ogg_page([opus_head()], granule=0, serial=serial, sequence=0, flags=_FLAG_BOS),
        ogg_page([opus_tags(comments)], granule=0, serial=serial, sequence=1),
    ]
    done = 0
    while done < packets:
        count = min(_MAX_SEGMENTS, packets - done)
        done += count
        last = done == packets
        # The last page's granule position may stop short of its packets' samples: that
        # trims the end (RFC 7845 section 4.4), so the stream lasts exactly ``total``.
        granule = PRE_SKIP + (total if last else done * PACKET_SAMPLES)
        pages.append(
            ogg_page(
                [_TOC_SILK_NB_60MS_MONO] * count,
                granule=granule,
                serial=serial,
                sequence=len(pages),
                flags=_FLAG_EOS if last else 0,
            )
        )
    return b"".join(pages)


def duration_of(data: bytes) -> float:
    """The duration an Ogg Opus reader takes from ``data``: (last granule - pre-skip) / 48 kHz."""
    head_at = data.find(b"OpusHead")
    last = data.rfind(b"OggS")
    if head_at < 0 or last < 0:
        raise ValueError("not an Ogg Opus stream")
    pre_skip: int = struct.unpack_from("<H", data, head_at + 10)[0]
    granule: int = struct.unpack_from("<q", data, last + 6)[0]
    return max(0, granule - pre_skip) / OPUS_RATE
