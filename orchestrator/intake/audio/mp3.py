"""MP3 (MPEG-1/2 layer III): frames recognised by their headers, duration from mutagen."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from mutagen import MutagenError
from mutagen.mp3 import MPEGInfo

from orchestrator.core.audio import AudioFacts
from orchestrator.core.constants import MAX_DURATION_S
from orchestrator.intake.audio.common import (
    ALLOWED_FORMATS,
    AudioError,
    Unsupported,
    hours,
)

_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_MPEG_BITRATES = {
    (1, 1): (32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (1, 2): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (1, 3): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (2, 1): (32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (2, 2): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (2, 3): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}


def mpeg_frame(buf: bytes, at: int) -> tuple[int, int] | None:
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


def probe_mp3(path: Path, f: BinaryIO, size: int) -> AudioFacts:
    f.seek(0)
    try:
        mpeg = MPEGInfo(f)
    except MutagenError as e:
        raise AudioError(
            path, "truncated MP3: no MPEG audio frames found (after the ID3 tag, if any)"
        ) from e
    layer = int(mpeg.layer)
    if layer != 3:
        raise Unsupported(
            path,
            f"the file is MPEG audio layer {'I' * layer}, not MP3 (layer III); {ALLOWED_FORMATS}",
        )
    duration = float(mpeg.length)
    audio_bytes = size - int(mpeg.frame_offset)
    # A VBR header gives the length of the whole stream; a copy cut short holds less of it.
    expected_bytes = duration * int(mpeg.bitrate) / 8
    if duration > MAX_DURATION_S and audio_bytes < 0.9 * expected_bytes:
        # A claim the file cannot hold: no recording to split.
        raise AudioError(
            path,
            f"the MP3 header claims {hours(duration)} of audio; SpeechKit accepts at most 4 h",
        )
    if audio_bytes < 0.9 * expected_bytes:
        raise AudioError(
            path,
            f"truncated MP3: its header claims {duration:.1f} s (about {int(expected_bytes)} "
            f"bytes) but the file holds {audio_bytes} bytes of audio",
        )
    return AudioFacts(
        container="mp3",
        encoding="MP3",
        duration_s=duration,
        channels=int(mpeg.channels),
        sample_rate=int(mpeg.sample_rate),
        size_bytes=size,
        data_offset=0,
        data_length=size,
    )
