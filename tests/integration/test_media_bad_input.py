"""Bad input to the media layer: nothing escapes but MediaError, one line naming the file,
never quoting its bytes, and no half-written output is left behind."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.media.convert import convert
from orchestrator.media.errors import MediaError
from orchestrator.media.probe import media_info
from orchestrator.media.quiet import loudness
from orchestrator.media.target import Target
from tests.support import formats

TARGET = Target("ogg", "libopus", 16000, 2, 48000)
MARKER = b"QZX-SECRET-MARKER-"
FUZZ = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad-input")
    return {name: formats.write(folder, name, 2.0) for name in formats.FORMATS}


def one_line_naming(error: MediaError, path: Path) -> str:
    text = str(error)
    assert text.startswith(f"{path}: ")
    assert "\n" not in text
    assert MARKER.decode() not in text
    return text


def test_a_video_without_sound_has_no_audio_stream(tmp_path: Path) -> None:
    path = formats.video_only(tmp_path)
    with pytest.raises(MediaError, match=r"has no audio stream$"):
        media_info(path)


def test_a_text_file_named_m4a_has_no_audio_stream(tmp_path: Path) -> None:
    path = tmp_path / "notes.m4a"
    path.write_bytes(MARKER + b" minutes of the meeting\n" * 20)
    with pytest.raises(MediaError, match="has no audio stream") as caught:
        media_info(path)
    one_line_naming(caught.value, path)


def test_an_empty_file_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.touch()
    with pytest.raises(MediaError, match=r"is empty$"):
        media_info(path)


def test_a_header_claiming_100_hours_in_1_kb_is_not_believed(
    audio: dict[str, Path], tmp_path: Path
) -> None:
    data = bytearray(audio["alaw"].read_bytes()[:1024])
    chunk = data.find(b"data")
    struct.pack_into("<I", data, chunk + 4, 8000 * 3600 * 100)
    path = tmp_path / "liar.wav"
    path.write_bytes(bytes(data))
    assert media_info(path).duration_s < 1.0


def test_a_file_decoded_short_of_its_headers_promise_says_so(
    audio: dict[str, Path], tmp_path: Path
) -> None:
    data = audio["aiff"].read_bytes()
    path = tmp_path / "cut.aiff"
    path.write_bytes(data[: len(data) // 2])
    info = media_info(path)
    assert info.promised_s == pytest.approx(2.0)
    assert info.truncation() == "is truncated: its audio ends at 1.0 s, its header promises 2.0 s"
    # A header believed, or silent (a stream's), promises nothing to fall short of.
    assert media_info(audio["aiff"]).truncation() is None
    assert media_info(formats.streamed_webm(tmp_path)).truncation() is None


@pytest.mark.parametrize("name", ["flac", "webm", "adpcm", "mulaw", "float"])
def test_a_believable_header_over_a_file_cut_short_is_found_out_by_its_last_packets(
    audio: dict[str, Path], tmp_path: Path, name: str
) -> None:
    data = audio[name].read_bytes()
    path = tmp_path / f"cut{audio[name].suffix}"
    path.write_bytes(data[: len(data) // 2])
    info = media_info(path)
    assert info.promised_s == pytest.approx(2.0, abs=0.1)
    assert info.duration_s < 1.5
    truncation = info.truncation()
    assert truncation is not None
    assert truncation.startswith("is truncated: its audio ends at ")


def test_every_whole_format_reaches_its_headers_end(audio: dict[str, Path], tmp_path: Path) -> None:
    whole = [*audio.values(), formats.fixture("gsm.wav"), formats.fixture("tone.amr")]
    for path in [*whole, formats.streamed_webm(tmp_path)]:
        info = media_info(path)
        assert info.truncation() is None, path
        assert info.promised_s is None, path


def liar(audio: dict[str, Path], name: str) -> bytes:
    """The first KB of a file, its header claiming far more audio than that."""
    data = bytearray(audio[name].read_bytes()[:1024])
    if name == "aiff":  # COMM: channels (2 bytes), then the count of sample frames
        struct.pack_into(">I", data, data.find(b"COMM") + 10, 16000 * 3600 * 50)
    else:  # FLAC's STREAMINFO: the low 36 bits of bytes 21-25 count the samples
        data[21] |= 0x0F
        data[22:26] = b"\xff\xff\xff\xff"
    return bytes(data)


@pytest.mark.parametrize("name", ["aiff", "flac"])
def test_other_headers_claiming_hours_in_1_kb_are_not_believed(
    audio: dict[str, Path], tmp_path: Path, name: str
) -> None:
    path = tmp_path / f"liar{audio[name].suffix}"
    path.write_bytes(liar(audio, name))
    try:
        assert media_info(path).duration_s < 1.0
    except MediaError as error:
        one_line_naming(error, path)


@pytest.mark.parametrize("name", ["mulaw", "adpcm", "flac", "webm", "aiff", "vorbis"])
def test_a_truncated_file_fails_to_convert_and_leaves_nothing(
    audio: dict[str, Path], tmp_path: Path, name: str
) -> None:
    data = audio[name].read_bytes()
    path = tmp_path / f"cut{audio[name].suffix}"
    path.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out.ogg"
    with pytest.raises(MediaError) as caught:
        convert(path, out, TARGET)
    one_line_naming(caught.value, path)
    assert not out.exists()
    assert not (tmp_path / "out.ogg.part").exists()


def test_truncation_says_both_figures(audio: dict[str, Path], tmp_path: Path) -> None:
    data = audio["mulaw"].read_bytes()
    path = tmp_path / "cut.wav"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        MediaError, match=r"truncated: its audio ends at 1\.0 s, its header promises 2\.0 s"
    ):
        convert(path, tmp_path / "out.ogg", TARGET)


def test_a_truncated_m4a_is_refused_by_the_probe(audio: dict[str, Path], tmp_path: Path) -> None:
    data = audio["m4a"].read_bytes()
    path = tmp_path / "cut.m4a"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError):
        media_info(path)


def survives(path: Path, out: Path) -> None:
    """Probe, measure and convert ``path``: each returns or raises MediaError, nothing else."""
    for step in (
        lambda: media_info(path),
        lambda: loudness(path),
        lambda: convert(path, out, TARGET),
    ):
        try:
            step()
        except MediaError as error:
            one_line_naming(error, path)
    assert not out.with_name(out.name + ".part").exists()


@FUZZ
@given(data=st.binary(max_size=4096), suffix=st.sampled_from([".wav", ".m4a", ".ogg", ".bin"]))
def test_random_bytes_give_only_media_errors(tmp_path: Path, data: bytes, suffix: str) -> None:
    path = tmp_path / f"random{suffix}"
    path.write_bytes(MARKER + data)
    survives(path, tmp_path / "out.ogg")


@FUZZ
@given(
    name=st.sampled_from(sorted(formats.FORMATS)),
    keep=st.floats(min_value=0.0, max_value=1.0),
    flip=st.integers(min_value=0, max_value=2**16),
)
def test_truncated_and_damaged_files_give_only_media_errors(
    audio: dict[str, Path], tmp_path: Path, name: str, keep: float, flip: int
) -> None:
    data = bytearray(audio[name].read_bytes()[: int(audio[name].stat().st_size * keep)])
    if data:
        data[flip % len(data)] ^= 0xFF
    path = tmp_path / f"damaged{audio[name].suffix}"
    path.write_bytes(bytes(data))
    survives(path, tmp_path / "out.ogg")


@pytest.mark.slow
@settings(FUZZ, max_examples=300)
@given(data=st.binary(max_size=65536), suffix=st.sampled_from([".wav", ".mp4", ".webm", ".amr"]))
def test_many_random_files_give_only_media_errors(tmp_path: Path, data: bytes, suffix: str) -> None:
    path = tmp_path / f"random{suffix}"
    path.write_bytes(data)
    survives(path, tmp_path / "out.ogg")


def test_a_failure_to_write_is_a_media_error_naming_the_source(
    audio: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(MediaError, match=r"conversion failed \(no such file or directory\)$"):
        convert(audio["mulaw"], tmp_path / "missing" / "out.ogg", TARGET)


def test_a_missing_source_is_a_media_error(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match=r"gone\.wav: cannot be read as audio \(no such file"):
        media_info(tmp_path / "gone.wav")
