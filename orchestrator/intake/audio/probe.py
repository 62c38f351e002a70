"""Probe audio files for SpeechKit: format from the bytes, duration, channels, rate, limits.

Only headers are read (a few kilobytes at each end of the file); the bytes to upload are
read by ``read_range``, a WAV file's header skipped so the object is the raw LPCM that API
v2 calls LINEAR16_PCM.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
from collections.abc import Iterator
from pathlib import Path

from orchestrator.core.audio import ENCODING_OF, AudioFacts, Encoding
from orchestrator.core.constants import MAX_DURATION_S, MAX_FILE_BYTES
from orchestrator.intake.audio.common import (
    ALLOWED_FORMATS,
    OPUS_RATE,
    AudioError,
    TooLong,
    Unsupported,
    gib,
    hours,
)
from orchestrator.intake.audio.mp3 import probe_mp3
from orchestrator.intake.audio.ogg import probe_ogg_opus
from orchestrator.intake.audio.raw import probe_raw
from orchestrator.intake.audio.sniff import Kind, sniff
from orchestrator.intake.audio.wav import probe_wav

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
_HEAD_BYTES = 64 * 1024


def probe(
    path: Path,
    *,
    encoding: Encoding | None = None,
    sample_rate: int | None = None,
    channels: int | None = None,
) -> AudioFacts:
    """Identify `path` from its bytes and check it against SpeechKit's limits.

    `encoding`, `sample_rate` and `channels` are what the manifest declared (None: not
    declared); each must agree with the file. Raw LPCM (no header) is accepted only when
    declared LINEAR16_PCM with a sample_rate. Raises AudioError (``Unsupported`` for a
    format the service does not take, ``TooLong`` past its limits).
    """
    info = identify(path, encoding=encoding, sample_rate=sample_rate, channels=channels)
    check_limits(path, info)
    return info


def identify(
    path: Path,
    *,
    encoding: Encoding | None = None,
    sample_rate: int | None = None,
    channels: int | None = None,
) -> AudioFacts:
    """What ``probe`` finds, before the service's limits: a recording too long for one
    request is still a recording (to split)."""
    size = _check_file(path)
    try:
        with path.open("rb") as f:
            head = f.read(_HEAD_BYTES)
            kind = sniff(head)
            _check_extension(path, kind)
            if kind.container is None:
                if kind.label is not None:
                    raise Unsupported(path, f"the file is {kind.label}; {ALLOWED_FORMATS}")
                info = probe_raw(path, size, encoding, sample_rate, channels)
            else:
                _check_declared_encoding(path, kind, encoding)
                if kind.container == "ogg_opus":
                    info = probe_ogg_opus(path, f, size, head)
                elif kind.container == "mp3":
                    info = probe_mp3(path, f, size)
                else:
                    info = probe_wav(path, f, size, head)
    except OSError as e:
        raise AudioError(path, f"cannot read the file: {e.strerror or e}") from e
    _check_declared_format(path, info, head, sample_rate, channels)
    return info


def read_range(
    path: Path, offset: int, length: int, chunk_size: int = 1024 * 1024
) -> Iterator[bytes]:
    """The bytes ``[offset, offset + length)`` of a file (the audio to upload, a WAV file's
    PCM data only), at most ``chunk_size`` at a time, read as they are consumed.

    Raises AudioError when the file cannot be read or has become shorter than it was when
    probed. The one reader of upload bytes: hashing and uploading read the same ones.
    """
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, not {chunk_size}")
    remaining = length
    try:
        with path.open("rb") as f:
            f.seek(offset)
            while remaining > 0:
                chunk = f.read(min(chunk_size, remaining))
                if not chunk:
                    raise AudioError(
                        path,
                        f"the file changed after it was checked: it ended "
                        f"{remaining} bytes before the {length} bytes to upload",
                    )
                remaining -= len(chunk)
                yield chunk
    except OSError as e:
        raise AudioError(path, f"cannot read the file: {e.strerror or e}") from e


def content_hash(path: Path, facts: AudioFacts) -> str:
    """The sha256 (hex) of exactly the bytes that are uploaded, read streamed."""
    digest = hashlib.sha256()
    for chunk in read_range(path, facts.data_offset, facts.data_length):
        digest.update(chunk)
    return digest.hexdigest()


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


def _check_extension(path: Path, kind: Kind) -> None:
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
    # A file of a format the service refuses under another's name: FFmpeg reads it by its
    # bytes. One the service takes is only misnamed: renaming it loses nothing.
    error = Unsupported if kind.label is not None and kind.container is None else AudioError
    raise error(
        path,
        f"the name ends in {ext} ({_FAMILY_LABEL[promised]}) but the bytes are {what}{hint}",
    )


def _check_declared_encoding(path: Path, kind: Kind, encoding: Encoding | None) -> None:
    assert kind.container is not None
    actual = ENCODING_OF[kind.container]
    if encoding is not None and encoding != actual:
        raise AudioError(
            path,
            f"encoding is declared {encoding} but the file is {kind.label}, "
            f"which is sent as {actual}; declare {actual} or leave encoding out",
        )


def _check_declared_format(
    path: Path,
    info: AudioFacts,
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
            f"{OPUS_RATE} Hz (this file was made from {source_rate} Hz audio); "
            "leave sample_rate out for Ogg Opus",
        )
    raise AudioError(
        path, f"sample_rate is declared {sample_rate} Hz but {where} {info.sample_rate} Hz"
    )


def check_limits(path: Path, info: AudioFacts) -> None:
    """Raise ``TooLong`` when the audio is more than one request of the service takes,
    AudioError when it holds no audio at all."""
    if info.data_length > MAX_FILE_BYTES:
        raise TooLong(
            path,
            f"{gib(info.data_length)} to upload; SpeechKit accepts at most 1 GB per file",
        )
    if info.duration_s > MAX_DURATION_S:
        raise TooLong(
            path,
            f"the audio lasts {hours(info.duration_s)}; SpeechKit accepts at most 4 h",
        )
    if info.duration_s <= 0:
        raise AudioError(path, "the audio has zero duration (no samples)")
