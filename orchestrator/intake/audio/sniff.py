"""What the first bytes say a file is: a format SpeechKit takes, or the name of another."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.core.audio import Container
from orchestrator.intake.audio.mp3 import mpeg_frame


@dataclass(frozen=True)
class Kind:
    """What the first bytes say: a supported container, or the name of something else."""

    family: str | None  # "ogg", "mp3", "wav" or None when the bytes are no container we know
    label: str | None  # a human name of the format, None when unknown
    container: Container | None = None  # set when SpeechKit accepts the format


def sniff(head: bytes) -> Kind:
    """Name the format from the first bytes; Ogg's codec is in its first packet."""
    if head.startswith(b"OggS"):
        return _sniff_ogg(head)
    wav = _sniff_wav(head)
    if wav is not None:
        return wav
    if head.startswith(b"ID3"):
        return Kind("mp3", "MP3", "mp3")
    mpeg = _sniff_mpeg(head)
    if mpeg is not None:
        return mpeg
    return _sniff_other(head)


def _sniff_wav(head: bytes) -> Kind | None:
    """The RIFF family (WAV and the variants SpeechKit refuses), or None."""
    if head.startswith(b"RIFF") and len(head) < 12:
        return Kind("wav", "WAV", "wav")  # probe_wav reports it cut short
    if head[:4] not in (b"RIFF", b"RIFX", b"RF64") or head[8:12] != b"WAVE":
        return None
    if head[:4] == b"RIFF":
        return Kind("wav", "WAV", "wav")
    name = "big-endian WAV (RIFX)" if head[:4] == b"RIFX" else "RF64 (64-bit WAV)"
    return Kind("wav", name)


def _sniff_mpeg(head: bytes) -> Kind | None:
    """MPEG audio starting with a frame header (MP3 or another layer), or None."""
    frame = mpeg_frame(head, 0)
    if frame is None:
        return None
    layer, length = frame
    # One valid header can be chance in raw PCM; require the next frame to follow it.
    if len(head) > length and mpeg_frame(head, length) is None:
        return Kind(None, None)
    if layer == 3:
        return Kind("mp3", "MP3", "mp3")
    return Kind("mp3", f"MPEG audio layer {'I' * layer} (not MP3, which is layer III)")


def _sniff_other(head: bytes) -> Kind:
    """A format SpeechKit does not take, named so the user knows what the file is."""
    others = (
        (b"fLaC", "FLAC"),
        (b"#!AMR", "AMR"),
        (b"\x1aE\xdf\xa3", "Matroska/WebM"),
        (b".snd", "Sun/NeXT audio (.au)"),
        (b"\x30\x26\xb2\x75", "ASF/WMA"),
    )
    for magic, name in others:
        if head.startswith(magic):
            return Kind(None, name)
    if head[4:8] == b"ftyp":
        return Kind(None, "MP4/M4A")
    if head.startswith(b"FORM") and head[8:12] in (b"AIFF", b"AIFC"):
        return Kind(None, "AIFF")
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return Kind(None, "AAC (ADTS)")
    return Kind(None, None)


def _sniff_ogg(head: bytes) -> Kind:
    if len(head) < 28:
        return Kind("ogg", "Ogg", "ogg_opus")  # probe_ogg_opus reports it cut short
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
            return Kind("ogg", name, "ogg_opus" if magic == b"OpusHead" else None)
    if len(body) < 8:
        return Kind("ogg", "Ogg", "ogg_opus")  # cut short inside the first page
    return Kind("ogg", "Ogg with an unknown codec")
