"""Tests for orchestrator.intake.audio: formats, limits and every rejection, on real files."""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from orchestrator.core.audio import AudioFacts, Encoding
from orchestrator.core.billing import billable_seconds
from orchestrator.intake import audio
from orchestrator.intake.audio import AudioError, read_range


@dataclass(frozen=True)
class Probed:
    """A probed file: its path beside what ``probe`` found (the facts do not hold the path)."""

    path: Path
    facts: AudioFacts

    def __getattr__(self, name: str) -> Any:
        return getattr(self.facts, name)


def probe(path: Path, **declared: Any) -> Probed:
    return Probed(path, audio.probe(path, **declared))


def iter_upload_chunks(info: Probed, chunk_size: int = 8 * 1024 * 1024) -> Iterator[bytes]:
    return read_range(info.path, info.data_offset, info.data_length, chunk_size)


def content_hash(info: Probed) -> str:
    return audio.content_hash(info.path, info.facts)


DATA = Path(__file__).resolve().parents[1] / "data"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "audio"
PCM_GUID = b"\x01\x00\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
FLOAT_GUID = b"\x03\x00" + PCM_GUID[2:]


# ---- helpers ---------------------------------------------------------------------------------


def copy(tmp_path: Path, fixture: str, name: str | None = None) -> Path:
    """A copy of a committed fixture under tmp_path, optionally renamed."""
    target = tmp_path / (name or fixture)
    shutil.copyfile(DATA / fixture, target)
    return target


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    """`data` written to tmp_path/name."""
    target = tmp_path / name
    target.write_bytes(data)
    return target


def rejected(
    path: Path,
    *words: str,
    encoding: Encoding | None = None,
    sample_rate: int | None = None,
    channels: int | None = None,
) -> str:
    """Probe a file that must be rejected; check the message names it and says each word."""
    with pytest.raises(AudioError) as caught:
        probe(path, encoding=encoding, sample_rate=sample_rate, channels=channels)
    error = caught.value
    message = str(error)
    assert error.path == str(path)
    assert message == f"{path}: {error.reason}"
    assert "\n" not in message
    for word in words:
        assert word in error.reason, f"{word!r} not in {error.reason!r}"
    return error.reason


def pcm_16k() -> bytes:
    """The PCM samples of the 16 kHz mono fixture (44-byte canonical header)."""
    return (DATA / "tone-16k-mono.wav").read_bytes()[44:]


def fmt_chunk(
    tag: int = 1,
    channels: int = 1,
    rate: int = 16000,
    bits: int = 16,
    subformat: bytes | None = None,
) -> bytes:
    """A WAV fmt chunk body; with `subformat`, WAVE_FORMAT_EXTENSIBLE."""
    block = channels * bits // 8
    body = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    if subformat is not None:
        body += struct.pack("<HHI", 22, bits, 0) + subformat
    return body


def riff(*chunks: tuple[bytes, bytes], sizes: dict[bytes, int] | None = None) -> bytes:
    """A RIFF/WAVE file of the given (id, body) chunks, padded as RIFF requires."""
    out = b""
    for chunk_id, body in chunks:
        size = (sizes or {}).get(chunk_id, len(body))
        out += chunk_id + struct.pack("<I", size) + body + (b"\x00" if len(body) % 2 else b"")
    return b"RIFF" + struct.pack("<I", 4 + len(out)) + b"WAVE" + out


def ogg_pages(data: bytes) -> Iterator[tuple[int, int]]:
    """(start, end) of each Ogg page, walked from the first."""
    at = 0
    while at < len(data):
        assert data[at : at + 4] == b"OggS"
        segments = data[at + 26]
        end = at + 27 + segments + sum(data[at + 27 : at + 27 + segments])
        yield at, end
        at = end


def with_granule(data: bytes, granule: int) -> bytes:
    """`data` with the granule position of its last Ogg page replaced (CRC left stale)."""
    last, _ = list(ogg_pages(data))[-1]
    return data[: last + 6] + struct.pack("<q", granule) + data[last + 14 :]


def mpeg_layer2_frames(count: int) -> bytes:
    """`count` silent MPEG-1 layer II frames (128 kbit/s, 44.1 kHz, mono)."""
    frame = bytes([0xFF, 0xFD, 0x80, 0xC0])
    return (frame + bytes(417 - 4)) * count


# ---- accepted formats ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "container", "encoding", "channels", "rate", "offset"),
    [
        ("tone-mono.ogg", "ogg_opus", "OGG_OPUS", 1, 48000, 0),
        ("tone-stereo.ogg", "ogg_opus", "OGG_OPUS", 2, 48000, 0),
        ("tone-mono.mp3", "mp3", "MP3", 1, 22050, 0),
        ("tone-stereo.mp3", "mp3", "MP3", 2, 16000, 0),
        ("tone-16k-mono.wav", "wav", "LINEAR16_PCM", 1, 16000, 44),
        ("tone-8k-stereo.wav", "wav", "LINEAR16_PCM", 2, 8000, 44),
    ],
)
def test_probe_reads_supported_formats(
    fixture: str, container: str, encoding: str, channels: int, rate: int, offset: int
) -> None:
    path = DATA / fixture
    info = probe(path)
    size = path.stat().st_size
    assert (info.container, info.encoding, info.channels, info.sample_rate) == (
        container,
        encoding,
        channels,
        rate,
    )
    assert info.path == path
    assert info.size_bytes == size
    assert info.data_offset == offset
    assert info.data_length == size - offset
    # The tones last 1 s; MP3 frames round it up a little.
    assert 0.99 <= info.duration_s <= 1.09


def test_wav_duration_is_exact() -> None:
    info = probe(DATA / "tone-8k-stereo.wav")
    assert info.duration_s == 1.0
    assert info.data_length == 8000 * 2 * 2


@pytest.mark.parametrize(
    ("name", "container", "channels"),
    [
        ("greeting-mono.ogg", "ogg_opus", 1),
        ("call-stereo.ogg", "ogg_opus", 2),
        ("podcast-mono.mp3", "mp3", 1),
        ("meeting-stereo.mp3", "mp3", 2),
        ("voicemail-mono.wav", "wav", 1),
        ("interview-stereo.wav", "wav", 2),
    ],
)
def test_demo_samples_are_accepted(name: str, container: str, channels: int) -> None:
    info = probe(EXAMPLES / name)
    assert info.container == container
    assert info.channels == channels
    assert 4.0 <= info.duration_s <= 12.0


def test_raw_lpcm_needs_declaring_and_uses_the_declared_format() -> None:
    path = DATA / "tone-48k-mono.raw"
    info = probe(path, encoding="LINEAR16_PCM", sample_rate=48000)
    assert (info.container, info.encoding, info.channels) == ("raw", "LINEAR16_PCM", 1)
    assert (info.duration_s, info.data_offset, info.data_length) == (1.0, 0, 96000)
    stereo = probe(path, encoding="LINEAR16_PCM", sample_rate=48000, channels=2)
    assert (stereo.channels, stereo.duration_s) == (2, 0.5)
    slow = probe(path, encoding="LINEAR16_PCM", sample_rate=8000)
    assert slow.duration_s == 6.0


def test_raw_without_declaration_is_an_unknown_format() -> None:
    reason = rejected(DATA / "tone-48k-mono.raw", "unknown audio format", "LINEAR16_PCM")
    assert "sample_rate" in reason


def test_raw_without_sample_rate_is_rejected() -> None:
    rejected(DATA / "tone-48k-mono.raw", "sample_rate", "8000", encoding="LINEAR16_PCM")


def test_raw_with_unsupported_rate_is_rejected() -> None:
    rejected(
        DATA / "tone-48k-mono.raw",
        "44100 Hz",
        "8000, 16000, 48000",
        encoding="LINEAR16_PCM",
        sample_rate=44100,
    )


def test_raw_cut_inside_a_frame_is_truncated(tmp_path: Path) -> None:
    path = write(tmp_path, "cut.raw", (DATA / "tone-48k-mono.raw").read_bytes()[:-3])
    rejected(path, "truncated", encoding="LINEAR16_PCM", sample_rate=48000, channels=2)


def test_raw_with_zero_channels_is_rejected() -> None:
    rejected(
        DATA / "tone-48k-mono.raw",
        "channels",
        encoding="LINEAR16_PCM",
        sample_rate=48000,
        channels=0,
    )


@pytest.mark.parametrize(
    ("fixture", "encoding"),
    [
        ("tone-mono.ogg", "OGG_OPUS"),
        ("tone-mono.mp3", "MP3"),
        ("tone-16k-mono.wav", "LINEAR16_PCM"),
    ],
)
def test_matching_declared_encoding_is_accepted(fixture: str, encoding: Encoding) -> None:
    assert probe(DATA / fixture, encoding=encoding).encoding == encoding


@pytest.mark.parametrize(
    ("fixture", "encoding", "actual"),
    [
        ("tone-mono.ogg", "MP3", "OGG_OPUS"),
        ("tone-mono.ogg", "LINEAR16_PCM", "OGG_OPUS"),
        ("tone-mono.mp3", "OGG_OPUS", "MP3"),
        ("tone-16k-mono.wav", "MP3", "LINEAR16_PCM"),
    ],
)
def test_declared_encoding_contradicting_the_bytes_is_rejected(
    fixture: str, encoding: Encoding, actual: str
) -> None:
    rejected(DATA / fixture, f"declared {encoding}", actual, encoding=encoding)


def test_declared_wav_rate_and_channels_must_match_the_header() -> None:
    path = DATA / "tone-8k-stereo.wav"
    assert probe(path, sample_rate=8000, channels=2).channels == 2
    rejected(path, "sample_rate is declared 16000", "8000 Hz", sample_rate=16000)
    rejected(path, "channels is declared 1", "2", channels=1)


def test_declared_channels_must_match_ogg_and_mp3() -> None:
    rejected(DATA / "tone-stereo.ogg", "channels is declared 1", "2", channels=1)
    rejected(DATA / "tone-mono.mp3", "channels is declared 2", "1", channels=2)


def test_declared_sample_rate_for_opus_may_be_48k_only_for_a_48k_source() -> None:
    assert probe(DATA / "tone-mono.ogg", sample_rate=48000).sample_rate == 48000
    rejected(DATA / "tone-mono.ogg", "16000", "48000 Hz", sample_rate=16000)


def test_declared_sample_rate_for_mp3_must_match() -> None:
    assert probe(DATA / "tone-mono.mp3", sample_rate=22050).sample_rate == 22050
    rejected(DATA / "tone-mono.mp3", "sample_rate is declared 48000", "22050", sample_rate=48000)


# ---- file names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "name", "words"),
    [
        ("tone-mono.mp3", "speech.ogg", (".ogg", "MP3", "rename it to end in .mp3")),
        ("tone-mono.ogg", "speech.mp3", (".mp3", "Ogg Opus")),
        ("tone-16k-mono.wav", "speech.opus", (".opus", "WAV")),
        ("tone-mono.ogg", "speech.wav", (".wav", "Ogg")),
        ("tone-16k-mono.wav", "speech.raw", (".raw", "WAV")),
        ("tone-48k-mono.raw", "speech.wav", (".wav", "unrecognised")),
        ("tone-vorbis.ogg", "speech.mp3", (".mp3", "Ogg Vorbis")),
    ],
)
def test_extension_contradicting_the_bytes_is_rejected(
    tmp_path: Path, fixture: str, name: str, words: tuple[str, ...]
) -> None:
    rejected(
        copy(tmp_path, fixture, name),
        *words,
        encoding="LINEAR16_PCM" if fixture.endswith(".raw") else None,
        sample_rate=48000 if fixture.endswith(".raw") else None,
    )


@pytest.mark.parametrize(
    ("fixture", "name"),
    [
        ("tone-mono.ogg", "a.opus"),
        ("tone-mono.ogg", "a.oga"),
        ("tone-mono.ogg", "a.OGG"),
        ("tone-16k-mono.wav", "a.wave"),
        ("tone-mono.mp3", "a.audio"),
        ("tone-mono.mp3", "no-extension"),
        ("tone-48k-mono.raw", "a.pcm"),
        ("tone-48k-mono.raw", "a.lpcm"),
    ],
)
def test_agreeing_or_unknown_extensions_are_accepted(
    tmp_path: Path, fixture: str, name: str
) -> None:
    raw = fixture.endswith(".raw")
    info = probe(
        copy(tmp_path, fixture, name),
        encoding="LINEAR16_PCM" if raw else None,
        sample_rate=48000 if raw else None,
    )
    assert info.duration_s > 0


# ---- unsupported formats ---------------------------------------------------------------------


def test_ogg_vorbis_is_rejected() -> None:
    rejected(DATA / "tone-vorbis.ogg", "Ogg Vorbis", "Ogg Opus")


def test_wav_at_44100_hz_is_rejected() -> None:
    rejected(DATA / "tone-44k-mono.wav", "44100 Hz", "8000, 16000, 48000")


def test_8_bit_wav_is_rejected() -> None:
    rejected(DATA / "tone-8bit.wav", "8-bit", "16-bit PCM")


def test_float_wav_is_rejected() -> None:
    rejected(DATA / "tone-float.wav", "32-bit float", "16-bit PCM")


def test_extensible_wav_with_pcm_subformat_is_accepted(tmp_path: Path) -> None:
    pcm = pcm_16k()
    path = write(
        tmp_path,
        "ext.wav",
        riff((b"fmt ", fmt_chunk(0xFFFE, subformat=PCM_GUID)), (b"data", pcm)),
    )
    info = probe(path)
    assert (info.sample_rate, info.channels, info.data_length) == (16000, 1, len(pcm))
    assert info.data_offset == 12 + 8 + 40 + 8


def test_extensible_wav_with_float_subformat_is_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "ext.wav",
        riff((b"fmt ", fmt_chunk(0xFFFE, bits=32, subformat=FLOAT_GUID)), (b"data", bytes(64))),
    )
    rejected(path, "32-bit float", "16-bit PCM")


def test_mu_law_wav_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "ulaw.wav", riff((b"fmt ", fmt_chunk(7, bits=8)), (b"data", bytes(64))))
    rejected(path, "mu-law", "16-bit PCM")


@pytest.mark.parametrize(
    ("head", "label"),
    [
        (b"fLaC\x00\x00\x00\x22", "FLAC"),
        (b"\x00\x00\x00\x20ftypM4A ", "MP4/M4A"),
        (b"\x1aE\xdf\xa3\x01\x00\x00\x00", "Matroska/WebM"),
        (b"FORM\x00\x00\x10\x00AIFF", "AIFF"),
        (b"RIFX\x00\x00\x10\x00WAVE", "RIFX"),
    ],
)
def test_other_known_formats_are_named(tmp_path: Path, head: bytes, label: str) -> None:
    rejected(write(tmp_path, "audio.bin", head + bytes(4000)), label, "Ogg Opus, MP3")


def test_mpeg_layer_2_is_not_mp3(tmp_path: Path) -> None:
    rejected(write(tmp_path, "a.mp2", mpeg_layer2_frames(3)), "layer II", "MP3")
    rejected(write(tmp_path, "a.mp3", mpeg_layer2_frames(3)), "layer II", "MP3")


def test_one_chance_mpeg_sync_in_other_bytes_is_not_mp3(tmp_path: Path) -> None:
    data = mpeg_layer2_frames(1)[:4] + b"\x01" * 2000
    rejected(write(tmp_path, "noise.bin", data), "unknown audio format")


def test_unknown_bytes_are_rejected_with_what_is_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, "notes.txt", b"these are not audio samples\n" * 10)
    reason = rejected(path, "unknown audio format")
    assert "Ogg Opus, MP3" in reason
    # The file's bytes are never quoted, as text or in hex: a manifest may name any file.
    for quoted in ("these", "74 68 65 73", "74686573"):
        assert quoted not in reason


# ---- the file itself -------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    rejected(tmp_path / "absent.ogg", "file not found")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    folder = tmp_path / "folder.wav"
    folder.mkdir()
    rejected(folder, "not a regular file", "directory")


def test_fifo_instead_of_file(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.ogg"
    os.mkfifo(fifo)
    rejected(fifo, "not a regular file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = copy(tmp_path, "tone-mono.ogg")
    path.chmod(0)
    try:
        rejected(path, "cannot read", "permission denied")
    finally:
        path.chmod(0o600)


def test_empty_file(tmp_path: Path) -> None:
    rejected(write(tmp_path, "empty.mp3", b""), "empty", "0 bytes")


# ---- truncated files -------------------------------------------------------------------------


def test_ogg_cut_inside_a_page_is_truncated(tmp_path: Path) -> None:
    data = (DATA / "tone-mono.ogg").read_bytes()
    rejected(write(tmp_path, "cut.ogg", data[: len(data) - 50]), "truncated Ogg", "last page")


def test_ogg_with_headers_only_is_truncated(tmp_path: Path) -> None:
    data = (DATA / "tone-mono.ogg").read_bytes()
    pages = list(ogg_pages(data))
    assert len(pages) > 2
    headers_only = data[: pages[1][1]]  # OpusHead and OpusTags pages
    rejected(write(tmp_path, "headers.ogg", headers_only), "truncated Ogg", "no audio pages")


def test_ogg_cut_inside_the_first_page_is_truncated(tmp_path: Path) -> None:
    data = (DATA / "tone-mono.ogg").read_bytes()
    rejected(write(tmp_path, "tiny.ogg", data[:30]), "truncated Ogg")
    rejected(write(tmp_path, "magic.ogg", data[:4]), "truncated Ogg")


def test_mp3_cut_in_half_is_truncated(tmp_path: Path) -> None:
    data = (DATA / "tone-mono.mp3").read_bytes()
    assert b"Xing" in data  # the VBR header that gives the whole stream's length
    rejected(write(tmp_path, "cut.mp3", data[: len(data) // 2]), "truncated MP3")


def test_mp3_with_id3_tag_and_no_frames_is_truncated(tmp_path: Path) -> None:
    tag = b"ID3\x04\x00\x00" + bytes([0, 0, 0, 20]) + bytes(20)
    rejected(write(tmp_path, "tag-only.mp3", tag), "truncated MP3", "no MPEG audio frames")


def test_mp3_after_an_id3_tag_is_read(tmp_path: Path) -> None:
    tag = b"ID3\x04\x00\x00" + bytes([0, 0, 0, 20]) + bytes(20)
    data = tag + (DATA / "tone-stereo.mp3").read_bytes()
    info = probe(write(tmp_path, "tagged.mp3", data))
    assert (info.container, info.channels, info.data_offset, info.data_length) == (
        "mp3",
        2,
        0,
        len(data),
    )


def test_wav_with_data_shorter_than_its_header_claims_is_truncated(tmp_path: Path) -> None:
    data = (DATA / "tone-16k-mono.wav").read_bytes()
    reason = rejected(write(tmp_path, "cut.wav", data[:20000]), "truncated WAV", "32000")
    assert str(20000 - 44) in reason


def test_a_wav_the_service_refuses_cut_short_is_truncated_not_unsupported(
    tmp_path: Path,
) -> None:
    # A conversion could answer "unsupported encoding", never a file cut short: the probe
    # says which, so the file is refused before any conversion is spent on it.
    cut = riff((b"fmt ", fmt_chunk(7, bits=8)), (b"data", bytes(64)), sizes={b"data": 32000})
    with pytest.raises(AudioError) as caught:
        probe(write(tmp_path, "cut.wav", cut))
    assert not isinstance(caught.value, audio.Unsupported)
    assert caught.value.reason == (
        "truncated WAV: the header claims 32000 bytes of audio data but the file holds only "
        "64 after the header"
    )
    # A header claiming 100 hours of A-law in a kilobyte is the same.
    liar = riff(
        (b"fmt ", fmt_chunk(6, bits=8)), (b"data", bytes(900)), sizes={b"data": 8000 * 3600 * 100}
    )
    reason = rejected(write(tmp_path, "liar.wav", liar), "truncated WAV", "2880000000")
    assert "unsupported" not in reason
    # Whole, or streamed to its end (a size of all ones): refused for its encoding only.
    streamed = riff(
        (b"fmt ", fmt_chunk(7, bits=8)), (b"data", bytes(64)), sizes={b"data": 2**32 - 1}
    )
    for data in (riff((b"fmt ", fmt_chunk(7, bits=8)), (b"data", bytes(64))), streamed):
        with pytest.raises(audio.Unsupported, match="mu-law"):
            probe(write(tmp_path, "whole.wav", data))


def test_wav_with_header_only_is_truncated(tmp_path: Path) -> None:
    data = (DATA / "tone-16k-mono.wav").read_bytes()
    rejected(write(tmp_path, "header.wav", data[:44]), "truncated WAV")
    rejected(write(tmp_path, "riff.wav", data[:12]), "truncated WAV", "before its fmt")
    rejected(write(tmp_path, "riff8.wav", data[:8]), "truncated WAV")
    rejected(write(tmp_path, "fmt.wav", data[:36]), "truncated WAV", "before its data")


def test_wav_with_a_chunk_running_past_the_end_is_truncated(tmp_path: Path) -> None:
    data = riff((b"fmt ", fmt_chunk()), (b"LIST", bytes(10)), sizes={b"LIST": 5000})
    reason = rejected(write(tmp_path, "list.wav", data), "truncated WAV", "runs past the end")
    assert "LIST" not in reason  # even a chunk's name is the file's bytes


def test_wav_with_data_before_fmt_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "order.wav", riff((b"data", pcm_16k()), (b"fmt ", fmt_chunk())))
    rejected(path, "data chunk comes before the fmt chunk")


def test_wav_with_a_short_fmt_chunk_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "fmt.wav", riff((b"fmt ", fmt_chunk()[:12]), (b"data", pcm_16k())))
    rejected(path, "fmt chunk")


def test_wav_with_inconsistent_block_align_is_rejected(tmp_path: Path) -> None:
    body = bytearray(fmt_chunk(channels=2))
    struct.pack_into("<H", body, 12, 2)  # block align of a mono file
    path = write(tmp_path, "align.wav", riff((b"fmt ", bytes(body)), (b"data", pcm_16k())))
    rejected(path, "block align")


# ---- WAV chunk layout ------------------------------------------------------------------------


def test_wav_list_chunk_with_odd_size_before_data_is_skipped(tmp_path: Path) -> None:
    pcm = pcm_16k()
    path = write(
        tmp_path,
        "list.wav",
        riff((b"fmt ", fmt_chunk()), (b"LIST", b"INFOISFT\x03\x00\x00\x00ab\x00"), (b"data", pcm)),
    )
    info = probe(path)
    # 12 RIFF + 24 fmt + 8 + 15 + 1 pad LIST + 8 data header
    assert info.data_offset == 12 + 24 + 24 + 8
    assert info.data_length == len(pcm)
    assert b"".join(iter_upload_chunks(info)) == pcm


def test_wav_odd_chunk_without_its_pad_byte_is_tolerated(tmp_path: Path) -> None:
    pcm = pcm_16k()
    odd = b"abc"
    data = (
        b"RIFF"
        + struct.pack("<I", 4 + 24 + 8 + 3 + 8 + len(pcm))
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt_chunk()
        + b"junk"
        + struct.pack("<I", len(odd))
        + odd
        + b"data"
        + struct.pack("<I", len(pcm))
        + pcm
    )
    info = probe(write(tmp_path, "nopad.wav", data))
    assert info.data_offset == 12 + 24 + 11 + 8
    assert b"".join(iter_upload_chunks(info)) == pcm


def test_wav_streamed_data_size_runs_to_the_end_of_the_file(tmp_path: Path) -> None:
    pcm = pcm_16k()
    data = riff((b"fmt ", fmt_chunk()), (b"data", pcm), sizes={b"data": 0xFFFFFFFF})
    info = probe(write(tmp_path, "stream.wav", data))
    assert info.data_length == len(pcm)
    assert info.duration_s == 1.0


def test_wav_trailing_partial_frame_is_not_uploaded(tmp_path: Path) -> None:
    pcm = pcm_16k()[:1001]  # half a sample at the end
    info = probe(write(tmp_path, "odd.wav", riff((b"fmt ", fmt_chunk()), (b"data", pcm))))
    assert info.data_length == 1000


def test_wav_chunks_after_data_are_not_uploaded(tmp_path: Path) -> None:
    pcm = pcm_16k()
    path = write(
        tmp_path,
        "tail.wav",
        riff((b"fmt ", fmt_chunk()), (b"data", pcm), (b"LIST", b"INFOtail")),
    )
    info = probe(path)
    assert b"".join(iter_upload_chunks(info)) == pcm


# ---- limits ----------------------------------------------------------------------------------


def test_wav_header_claiming_more_than_4_hours_is_rejected(tmp_path: Path) -> None:
    five_hours = 5 * 3600 * 16000 * 2
    data = riff((b"fmt ", fmt_chunk()), (b"data", pcm_16k()), sizes={b"data": five_hours})
    rejected(write(tmp_path, "long.wav", data), "header claims 5.00 h", "at most 4 h")


def test_ogg_claiming_more_than_4_hours_is_rejected(tmp_path: Path) -> None:
    data = with_granule((DATA / "tone-mono.ogg").read_bytes(), 5 * 3600 * 48000)
    rejected(write(tmp_path, "long.ogg", data), "Ogg page claims 5.00 h", "at most 4 h")


def test_mp3_header_claiming_more_than_4_hours_is_rejected(tmp_path: Path) -> None:
    data = bytearray((DATA / "tone-mono.mp3").read_bytes())
    xing = data.index(b"Xing")
    assert struct.unpack_from(">I", data, xing + 4)[0] & 1  # the frame count is present
    struct.pack_into(">I", data, xing + 8, 5 * 3600 * 22050 // 576)
    rejected(write(tmp_path, "long.mp3", bytes(data)), "MP3 header claims 5.0", "at most 4 h")


def test_raw_longer_than_4_hours_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "long.raw"
    with path.open("wb") as f:
        f.truncate(5 * 3600 * 8000 * 2)  # sparse: nothing is written
    rejected(path, "5.00 h", "at most 4 h", encoding="LINEAR16_PCM", sample_rate=8000)


def test_more_than_1_gb_to_upload_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "big.raw"
    with path.open("wb") as f:
        f.truncate(1024**3 + 4)  # sparse
    rejected(
        path, "1.00 GB", "at most 1 GB", encoding="LINEAR16_PCM", sample_rate=48000, channels=2
    )


def test_wav_with_more_than_1_gb_of_data_is_rejected(tmp_path: Path) -> None:
    header = riff((b"fmt ", fmt_chunk(channels=2, rate=48000)), (b"data", b""))
    header = header[:-4] + struct.pack("<I", 0xFFFFFFFF)
    path = write(tmp_path, "big.wav", header)
    with path.open("r+b") as f:
        f.truncate(len(header) + 1024**3 + 4)
    rejected(path, "at most 1 GB")


def test_wav_with_no_samples_has_zero_duration(tmp_path: Path) -> None:
    path = write(tmp_path, "silent.wav", riff((b"fmt ", fmt_chunk()), (b"data", b"")))
    rejected(path, "zero duration")


def test_ogg_ending_at_its_pre_skip_has_zero_duration(tmp_path: Path) -> None:
    data = (DATA / "tone-mono.ogg").read_bytes()
    pre_skip = struct.unpack_from("<H", data, 27 + data[26] + 10)[0]
    rejected(write(tmp_path, "zero.ogg", with_granule(data, pre_skip)), "zero duration")


# ---- upload bytes ----------------------------------------------------------------------------


def test_wav_upload_is_the_pcm_data_only() -> None:
    path = DATA / "tone-8k-stereo.wav"
    info = probe(path)
    uploaded = b"".join(iter_upload_chunks(info))
    assert uploaded == path.read_bytes()[44:]
    assert len(uploaded) == info.data_length == 32000


def test_ogg_and_mp3_upload_the_whole_file() -> None:
    for name in ("tone-stereo.ogg", "tone-mono.mp3"):
        info = probe(DATA / name)
        assert b"".join(iter_upload_chunks(info)) == (DATA / name).read_bytes()


def test_upload_is_streamed_in_chunks_of_at_most_chunk_size() -> None:
    info = probe(DATA / "tone-16k-mono.wav")
    sizes = [len(c) for c in iter_upload_chunks(info, chunk_size=3000)]
    assert sizes == [3000] * 10 + [2000]


def test_large_upload_never_yields_more_than_one_chunk_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "big.raw"
    with path.open("wb") as f:
        f.truncate(5 * 1024 * 1024 + 2)  # sparse
    info = probe(path, encoding="LINEAR16_PCM", sample_rate=48000)
    sizes = [len(c) for c in iter_upload_chunks(info, chunk_size=1024 * 1024)]
    assert sizes == [1024 * 1024] * 5 + [2]


def test_upload_of_a_file_that_shrank_after_probing_fails_clearly(tmp_path: Path) -> None:
    path = copy(tmp_path, "tone-16k-mono.wav")
    info = probe(path)
    with path.open("r+b") as f:
        f.truncate(1000)
    with pytest.raises(AudioError, match="changed after it was checked") as caught:
        b"".join(iter_upload_chunks(info))
    assert caught.value.path == str(path)


def test_chunk_size_must_be_positive() -> None:
    info = probe(DATA / "tone-16k-mono.wav")
    with pytest.raises(ValueError, match="chunk_size"):
        next(iter_upload_chunks(info, chunk_size=0))


def test_content_hash_is_sha256_of_the_upload_bytes(tmp_path: Path) -> None:
    wav = probe(DATA / "tone-16k-mono.wav")
    expected = hashlib.sha256(pcm_16k()).hexdigest()
    assert content_hash(wav) == expected
    # The same PCM without a header is the same content.
    raw = probe(write(tmp_path, "same.raw", pcm_16k()), encoding="LINEAR16_PCM", sample_rate=16000)
    assert content_hash(raw) == expected
    ogg = probe(DATA / "tone-mono.ogg")
    assert content_hash(ogg) == hashlib.sha256((DATA / "tone-mono.ogg").read_bytes()).hexdigest()


def test_audio_info_is_immutable() -> None:
    info = audio.probe(DATA / "tone-mono.ogg")
    assert isinstance(info, AudioFacts)
    with pytest.raises(AttributeError):
        info.channels = 2  # type: ignore[misc]


# ---- billing and errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration", "channels", "billed"),
    [
        (0.5, 1, 15.0),
        (10.0, 2, 15.0),
        (10.0, 3, 30.0),
        (60.0, 1, 60.0),
        (60.0, 2, 60.0),
        (60.0, 4, 120.0),
        (61.5, 5, 184.5),
    ],
)
def test_billable_seconds(duration: float, channels: int, billed: float) -> None:
    assert billable_seconds(duration, channels) == billed


def test_audio_error_text() -> None:
    error = AudioError(Path("/a/b.ogg"), "the file is empty (0 bytes)")
    assert (error.path, error.reason) == ("/a/b.ogg", "the file is empty (0 bytes)")
    assert str(error) == "/a/b.ogg: the file is empty (0 bytes)"


def test_ogg_end_time_comes_from_the_last_page_that_has_one(tmp_path: Path) -> None:
    # Granule -1 marks a page on which no packet ends; the page before it holds the end time.
    data = with_granule((DATA / "tone-mono.ogg").read_bytes(), -1)
    info = probe(write(tmp_path, "open-end.ogg", data))
    assert 0 < info.duration_s < 1.0
