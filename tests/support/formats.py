"""Small audio files of every format the service refuses, generated with PyAV for tests.

Each holds speech-like sound: tone bursts separated by silences (so quiet cuts can be found),
a different tone per channel. GSM and AMR cannot be encoded by PyAV's FFmpeg; their fixtures
are committed under tests/data/audio (see the README there for how they were made).
"""

from __future__ import annotations

import io
import math
from array import array
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from tests.support.wavs import wav_bytes

AUDIO_DATA = Path(__file__).resolve().parents[1] / "data" / "audio"
# Bursts of tone and the silences between them, in seconds.
BURST_S = 0.3
GAP_S = 0.2
AMPLITUDE = 0.5


def is_loud(t: float) -> bool:
    """Whether the signal sounds at ``t`` seconds (a burst), not a gap."""
    return (t % (BURST_S + GAP_S)) < BURST_S


def pcm(rate: int, channels: int, seconds: float) -> bytes:
    """Interleaved 16-bit samples: a tone per channel (300 Hz, 500 Hz, ...) in bursts."""
    samples = array("h")
    for index in range(round(rate * seconds)):
        t = index / rate
        loud = is_loud(t)
        for channel in range(channels):
            value = math.sin(2 * math.pi * (300 + 200 * channel) * t) if loud else 0.0
            samples.append(round(value * AMPLITUDE * 32767))
    return samples.tobytes()


def s16_frames(rate: int, channels: int, seconds: float) -> list[av.AudioFrame]:
    """The signal as packed 16-bit frames of a tenth of a second each."""
    layout = "mono" if channels == 1 else "stereo" if channels == 2 else f"{channels}c"
    data = pcm(rate, channels, seconds)
    step = rate // 10 * channels * 2
    frames = []
    for offset in range(0, len(data), step):
        chunk = data[offset : offset + step]
        frame = av.AudioFrame(format="s16", layout=layout, samples=len(chunk) // (2 * channels))
        frame.planes[0].update(chunk)
        frame.sample_rate = rate
        frame.pts = offset // (2 * channels)
        frame.time_base = Fraction(1, rate)
        frames.append(frame)
    return frames


@dataclass(frozen=True)
class Format:
    """How one test format is written: container, codec, its options, and what it reads as."""

    suffix: str
    container: str
    codec: str
    label: str
    sample_rate: int = 8000
    channels: int = 1
    sample_format: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    video: bool = False


FORMATS: dict[str, Format] = {
    "mulaw": Format(".wav", "wav", "pcm_mulaw", "µ-law WAV", 8000, 2),
    "alaw": Format(".wav", "wav", "pcm_alaw", "A-law WAV", 8000, 1),
    "adpcm": Format(".wav", "wav", "adpcm_ima_wav", "ADPCM WAV", 8000, 1),
    "pcm8": Format(".wav", "wav", "pcm_u8", "8-bit PCM WAV", 8000, 1),
    "pcm24": Format(".wav", "wav", "pcm_s24le", "24-bit PCM WAV", 16000, 2),
    "pcm32": Format(".wav", "wav", "pcm_s32le", "32-bit PCM WAV", 16000, 1),
    "float": Format(".wav", "wav", "pcm_f32le", "32-bit float WAV", 16000, 1),
    "wav44": Format(".wav", "wav", "pcm_s16le", "16-bit PCM WAV", 44100, 2),
    "wav22": Format(".wav", "wav", "pcm_s16le", "16-bit PCM WAV", 22050, 1),
    "flac": Format(".flac", "flac", "flac", "FLAC", 16000, 2),
    "m4a": Format(".m4a", "mp4", "aac", "M4A (AAC)", 16000, 1),
    "mp4": Format(".mp4", "mp4", "aac", "MP4 (AAC, with video)", 16000, 1, video=True),
    "vorbis": Format(
        ".ogg", "ogg", "vorbis", "Ogg Vorbis", 16000, 2, options=(("strict", "experimental"),)
    ),
    "webm": Format(".webm", "webm", "libopus", "WebM (Opus)", 48000, 2),
    "aiff": Format(".aiff", "aiff", "pcm_s16be", "AIFF", 16000, 1),
}


def write(folder: Path, name: str, seconds: float = 2.0) -> Path:
    """Write the format named ``name`` (a key of FORMATS) in ``folder``; its path."""
    spec = FORMATS[name]
    path = folder / f"{name}{spec.suffix}"
    with av.open(str(path), "w", format=spec.container) as out:
        layout = "mono" if spec.channels == 1 else "stereo"
        stream = out.add_stream(spec.codec, rate=spec.sample_rate, layout=layout)
        assert isinstance(stream, av.AudioStream)
        for key, value in spec.options:
            stream.codec_context.options = {**stream.codec_context.options, key: value}
        video = _add_video(out) if spec.video else None
        for frame in s16_frames(spec.sample_rate, spec.channels, seconds):
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
        if video is not None:
            _write_video(out, video, seconds)
    return path


def _add_video(out: av.container.OutputContainer) -> av.VideoStream:
    stream = out.add_stream("mpeg4", rate=5)
    stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
    return stream


def _write_video(out: av.container.OutputContainer, stream: av.VideoStream, seconds: float) -> None:
    for index in range(round(seconds * 5)):
        frame = av.VideoFrame(32, 32, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes([index * 10 % 256]) * plane.buffer_size)
        frame.pts = index
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def video_only(folder: Path, seconds: float = 1.0) -> Path:
    """An MP4 with a video track and no sound."""
    path = folder / "silent-film.mp4"
    with av.open(str(path), "w", format="mp4") as out:
        _write_video(out, _add_video(out), seconds)
    return path


def fixture(name: str) -> Path:
    """A committed fixture PyAV cannot encode: ``tone.amr`` or ``gsm.wav``."""
    return AUDIO_DATA / name


def long_wav(path: Path, seconds: int, rate: int = 44100, channels: int = 2) -> Path:
    """A 16-bit WAV of ``seconds`` whole seconds: one second of the signal, repeated (quick
    to write however long)."""
    second = pcm(rate, channels, 1.0)
    path.write_bytes(wav_bytes(second * seconds, rate, channels))
    return path


class _Pipe(io.RawIOBase):
    """A write-only stream that cannot seek, as a browser's recorder writes."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, chunk: bytes) -> int:  # type: ignore[override]
        self.data += chunk
        return len(chunk)


def streamed_webm(folder: Path, seconds: float = 2.0) -> Path:
    """A WebM (Opus, stereo) written as a stream: its header cannot say how long it is, as in
    a browser's MediaRecorder output."""
    pipe = _Pipe()
    with av.open(pipe, "w", format="webm") as out:
        stream = out.add_stream("libopus", rate=48000, layout="stereo")
        assert isinstance(stream, av.AudioStream)
        for frame in s16_frames(48000, 2, seconds):
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    path = folder / "recorded.webm"
    path.write_bytes(bytes(pipe.data))
    return path
