"""What a file holds, as FFmpeg reads it: container, codec, channels, rate, duration."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import av
from av.container import InputContainer

from orchestrator.media.errors import MediaError
from orchestrator.media.labels import label_of

# A header's duration is believed only if the file could hold it: PCM at its own bit rate,
# anything else at no less than this (below any speech codec's lowest rate, e.g. Opus's 6
# kbit/s or AMR's 4.75), else the audio is decoded to find out.
MIN_CODED_BPS = 1000
# Headers, chunks and container overhead a PCM file carries beyond its samples.
PCM_SLACK_S = 0.05
PCM_BITS = re.compile(r"^pcm_[suf](\d+)")
COMPANDED = ("pcm_mulaw", "pcm_alaw", "pcm_u8", "pcm_s8")
# Decoded audio may end this much short of the header's promise (encoder delay, estimates
# from a bit rate) before the file counts as truncated: the larger of the two.
SHORT_BY_S = 0.5
SHORT_BY_RATIO = 0.05
# A believed header's end is checked from this far before it: the last packets only.
TAIL_S = 2.0


@dataclass(frozen=True)
class MediaInfo:
    """What a file holds: FFmpeg's names, a label for people, and the first audio stream's
    shape and length."""

    container: str
    codec: str
    label: str
    channels: int
    sample_rate: int
    duration_s: float
    has_video: bool
    bits: int | None = None
    # What the header claimed when the file was too small to hold it and was decoded to
    # find its length (None: the header was believed, or said nothing).
    promised_s: float | None = None

    def describe(self) -> str:
        """E.g. ``µ-law WAV, 8 kHz, 2 channels``."""
        khz = f"{self.sample_rate / 1000:g}"
        channels = "1 channel" if self.channels == 1 else f"{self.channels} channels"
        return f"{self.label}, {khz} kHz, {channels}"

    def truncation(self) -> str | None:
        """Why the file is refused as cut short (its audio ends well before its header's
        promise: a truncated file, or a header claiming hours in a kilobyte), or None."""
        if self.promised_s is None or not short_of(self.promised_s, self.duration_s):
            return None
        return truncated(self.duration_s, self.promised_s)


def short_of(promised_s: float, ended_s: float) -> bool:
    """Whether audio ending at ``ended_s`` falls well short of the ``promised_s`` a header
    claimed."""
    return ended_s < promised_s - max(SHORT_BY_S, SHORT_BY_RATIO * promised_s)


def truncated(ended_s: float, promised_s: float) -> str:
    """The one-line reason a truncated file is refused, both figures in it."""
    return (
        f"is truncated: its audio ends at {ended_s:.1f} s, its header promises {promised_s:.1f} s"
    )


def media_info(path: Path) -> MediaInfo:
    """Probe ``path``; raise MediaError when it is empty, not audio FFmpeg can decode, has no
    audio stream or no audio in it."""
    try:
        if path.stat().st_size == 0:
            raise MediaError(path, "is empty")
        with opened(path) as container:
            return _info(path, container)
    except MediaError:
        raise
    except Exception as exc:
        raise failure(path, exc) from None


@contextmanager
def opened(path: Path) -> Iterator[InputContainer]:
    """The file opened for reading by FFmpeg, closed on leaving; MediaError "has no audio
    stream" when FFmpeg recognises no container in it at all (a text file named .m4a)."""
    try:
        container = av.open(str(path), "r")
    except av.InvalidDataError as exc:
        raise MediaError(path, f"has no audio stream FFmpeg can read ({reason(exc)})") from None
    except Exception as exc:
        raise failure(path, exc) from None
    try:
        yield container
    finally:
        container.close()


def failure(
    path: Path | str, exc: BaseException, what: str = "cannot be read as audio"
) -> MediaError:
    """A one-line MediaError for an exception from FFmpeg or Python, never quoting the file:
    ``what`` went wrong, then FFmpeg's or the system's reason, or the exception's name."""
    if isinstance(exc, av.FFmpegError):
        detail = reason(exc)
    elif isinstance(exc, OSError) and exc.strerror:
        detail = exc.strerror.lower()
    else:
        detail = type(exc).__name__
    return MediaError(path, f"{what} ({detail})")


def reason(exc: av.FFmpegError) -> str:
    """FFmpeg's text for an error, lower case, without the path."""
    # FFmpeg's own texts are fixed ("Invalid data found when processing input"), never the
    # file's bytes; str(exc) would add the path, which the message names already.
    text = str(exc.strerror or "").rstrip(".").lower()
    # FFmpeg's fallback for a code it has no text for ("error number -1414967296 occurred").
    return "unreadable data" if not text or text.startswith("error number") else text


def audio_stream(path: Path | str, container: InputContainer) -> av.AudioStream:
    """The first audio stream, or MediaError "has no audio stream"."""
    if not container.streams.audio:
        raise MediaError(path, "has no audio stream")
    return container.streams.audio[0]


def _info(path: Path, container: InputContainer) -> MediaInfo:
    stream = audio_stream(path, container)
    context = stream.codec_context
    codec = context.name
    channels = context.channels
    rate = context.sample_rate
    if channels <= 0 or rate <= 0:
        raise MediaError(path, "has an audio stream with no channels or sample rate")
    has_video = bool(container.streams.video)
    bits = _bits(codec)
    header = header_duration(container, stream)
    claimed, promised = header, None
    if header is None or not _believable(path, header, codec, bits, rate * channels):
        claimed, promised = decoded_duration(path, container, stream), header
    else:
        # A header the file could hold may still promise more than is left of it (a copy
        # cut short): its last packets say where the audio really ends.
        ended = packets_end(container, stream, header)
        if ended is not None and short_of(header, ended):
            claimed, promised = ended, header
    if claimed is None or claimed <= 0:
        raise MediaError(path, "holds no audio (zero duration)")
    label = label_of(container.format.name, codec, has_video, path.suffix)
    return MediaInfo(
        container.format.name, codec, label, channels, rate, claimed, has_video, bits, promised
    )


def _bits(codec: str) -> int | None:
    if codec in COMPANDED:
        return 8
    match = PCM_BITS.match(codec)
    return int(match.group(1)) if match else None


def header_duration(container: InputContainer, stream: av.AudioStream) -> float | None:
    """The duration the headers claim, in seconds, or None when they do not say."""
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    return None


def _believable(path: Path, seconds: float, codec: str, bits: int | None, samples: int) -> bool:
    """Whether the file is big enough to hold ``seconds`` of this audio."""
    size_bits = path.stat().st_size * 8
    if bits is not None and codec.startswith("pcm_"):
        return seconds <= size_bits / (bits * samples) + PCM_SLACK_S
    return seconds <= size_bits / MIN_CODED_BPS


def packets_end(container: InputContainer, stream: av.AudioStream, header_s: float) -> float | None:
    """Where the stream's last packet ends, in seconds, read (not decoded) from a seek to
    shortly before the header's end; None when the file cannot seek or holds no packet
    there (then only a conversion finds out)."""
    start, time_base = stream.start_time or 0, stream.time_base
    if time_base is None:
        return None
    ended: float | None = None
    try:
        container.seek(int(max(header_s - TAIL_S, 0.0) * av.time_base), backward=True)
        for packet in container.demux(stream):
            if packet.pts is not None:
                end = float((packet.pts - start + (packet.duration or 0)) * time_base)
                ended = end if ended is None else max(ended, end)
    except av.FFmpegError:
        return None
    return ended


def decoded_duration(path: Path | str, container: InputContainer, stream: av.AudioStream) -> float:
    """Seconds of audio the stream holds, decoded to the end."""
    seconds = 0.0
    container.seek(0)
    for frame in container.decode(stream):
        if frame.sample_rate > 0:
            seconds += frame.samples / frame.sample_rate
    return seconds
