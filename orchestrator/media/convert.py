"""Convert one file (or a range of it) to a target, streaming frame by frame."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from av.container import OutputContainer

from orchestrator.media.errors import MediaError
from orchestrator.media.probe import (
    audio_stream,
    failure,
    header_duration,
    opened,
    reason,
    short_of,
    truncated,
)
from orchestrator.media.target import Target
from orchestrator.media.trim import Trim

# libopus's "audio" application (its default): decoded audio as close to the input as it
# can, which is what a recogniser wants; "voip" shapes the signal for human listeners (a
# high-pass filter and emphasis tuned for intelligibility) and costs 2.5x the CPU.
# Frames of 60 ms, Opus's longest: a third of the packets (and their per-packet CPU and bytes)
# of the 20 ms default, and latency means nothing to a batch recogniser.
OPUS_OPTIONS = {"application": "audio", "frame_duration": "60"}
# FFmpeg's layout for a count of channels with no layout of their own (a WAV without a
# channel mask): the Vorbis channel orders, which Opus's mapping family 1 takes as they are.
DEFAULT_LAYOUTS = {
    1: "mono",
    2: "stereo",
    3: "3.0",
    4: "quad",
    5: "5.0",
    6: "5.1",
    7: "6.1",
    8: "7.1",
}


@dataclass(frozen=True)
class Converted:
    """What a conversion wrote: seconds of decoded audio and the output's size."""

    duration_s: float
    size_bytes: int


def convert(
    src: Path, dst: Path, target: Target, start_s: float = 0.0, end_s: float | None = None
) -> Converted:
    """Convert ``[start_s, end_s)`` of ``src`` to ``target`` at ``dst`` (whole or not at all);
    MediaError when the file cannot be decoded or ends short of what its header promises."""
    part = dst.with_name(dst.name + ".part")
    try:
        seconds = _write(src, part, target, start_s, end_s)
        _flush(part)
        os.replace(part, dst)
    except BaseException as exc:
        part.unlink(missing_ok=True)
        if isinstance(exc, MediaError) or not isinstance(exc, Exception):
            raise
        # Reading the source fails with its own MediaError; what is left is the writing
        # (a full disk, a missing folder) or an encoder's refusal.
        raise failure(src, exc, "conversion failed") from None
    return Converted(seconds, dst.stat().st_size)


def _write(src: Path, part: Path, target: Target, start_s: float, end_s: float | None) -> float:
    with opened(src) as source:
        stream = audio_stream(src, source)
        promised = header_duration(source, stream)
        if start_s > 0:
            # Lands on or before start_s; Trim drops what comes before it, to the sample.
            source.seek(int(start_s * av.time_base), backward=True, any_frame=False)
        trim = Trim(start_s, end_s)
        with av.open(str(part), "w", format=target.container) as out:
            written = _encode(out, target, stream, _decoded(src, source, stream, trim))
    _check_whole(src, promised, trim.position, end_s)
    return written


def _decoded(
    src: Path, source: av.container.InputContainer, stream: av.AudioStream, trim: Trim
) -> Iterator[av.AudioFrame]:
    """The frames of [start, end), cut to the sample; MediaError naming where decoding failed."""
    frames = source.decode(stream)
    while not trim.done:
        try:
            frame = next(frames)
        except StopIteration:
            return
        except av.FFmpegError as exc:
            where = f"{trim.position:.1f} s"
            raise MediaError(src, f"decoding failed at {where} ({reason(exc)})") from None
        piece = trim.take(frame)
        if piece is not None:
            yield piece


def _encode(
    out: OutputContainer, target: Target, source: av.AudioStream, frames: Iterator[av.AudioFrame]
) -> float:
    """Resample and encode ``frames`` into ``out``; the seconds of audio written."""
    layout = _layout(source, target)
    encoder = out.add_stream(target.codec, rate=target.sample_rate, layout=layout)
    if target.bit_rate:
        encoder.bit_rate = target.bit_rate
    if target.codec == "libopus":
        encoder.codec_context.options = dict(OPUS_OPTIONS)
    resampler = av.AudioResampler(
        format=encoder.codec_context.format,
        layout=layout,
        rate=target.sample_rate,
        frame_size=encoder.codec_context.frame_size or None,
    )
    samples = 0
    time_base = Fraction(1, target.sample_rate)
    for frame in itertools.chain(frames, [None]):
        for piece in resampler.resample(frame):
            piece.pts, piece.time_base = samples, time_base
            samples += piece.samples
            out.mux(encoder.encode(piece))
    out.mux(encoder.encode(None))
    return samples / target.sample_rate


def _layout(source: av.AudioStream, target: Target) -> av.AudioLayout:
    """The source's channel layout when the target keeps its channels, else a default one."""
    layout = source.codec_context.layout
    if layout.nb_channels == target.channels and layout.name and "channels" not in layout.name:
        return layout
    return av.AudioLayout(DEFAULT_LAYOUTS[target.channels])


def _check_whole(src: Path, promised: float | None, ended: float, end_s: float | None) -> None:
    """MediaError when decoding ended well short of where the header said the audio goes."""
    if promised is None:
        return
    expected = promised if end_s is None else min(promised, end_s)
    if short_of(expected, ended):
        raise MediaError(src, truncated(ended, promised))


def _flush(path: Path) -> None:
    # On disk before the rename, so a power cut cannot leave an empty file under dst.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
