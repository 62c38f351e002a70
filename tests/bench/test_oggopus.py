"""Silent Ogg Opus files: every reader the bench relies on takes their exact duration."""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any

import pytest
from mutagen.oggopus import OggOpus

from bench.oggopus import OPUS_RATE, duration_of, ogg_crc, silent_opus
from bench.workload import generate_opus
from orchestrator.emulator.audio import probe as emulator_probe
from orchestrator.intake.audio import probe as daemon_probe

DATA = Path(__file__).resolve().parents[1] / "data"


def test_the_crc_is_oggs_own_checked_on_a_real_file() -> None:
    real = (DATA / "tone-mono.ogg").read_bytes()
    segments = real[26]
    length = 27 + segments + sum(real[27 : 27 + segments])
    page = bytearray(real[:length])
    (stored,) = struct.unpack_from("<I", page, 22)
    struct.pack_into("<I", page, 22, 0)
    assert ogg_crc(bytes(page)) == stored


@pytest.mark.parametrize("seconds", [0.5, 61.25, 1800.0, 3599.987])
def test_the_duration_is_exact_to_a_sample(seconds: float) -> None:
    data = silent_opus(seconds)
    assert duration_of(data) == pytest.approx(seconds, abs=1 / OPUS_RATE)
    parsed: Any = OggOpus(io.BytesIO(data))  # type: ignore[no-untyped-call]
    assert parsed.info.length == pytest.approx(seconds, abs=1 / OPUS_RATE)
    assert parsed.info.channels == 1


def test_an_hour_of_silence_takes_about_35_bytes_a_second() -> None:
    assert len(silent_opus(3600.0)) < 3600 * 40


def test_the_emulator_and_the_daemon_read_it_as_ogg_opus(tmp_path: Path) -> None:
    data = silent_opus(754.5, comments=("BENCH_FILE=1:2",))
    probed = emulator_probe(io.BytesIO(data), len(data), "OGG_OPUS", 48000, 1)
    assert probed.duration_s == pytest.approx(754.5)
    assert probed.channels == 1
    path = tmp_path / "a.opus"
    path.write_bytes(data)
    info = daemon_probe(path)
    assert (info.encoding, info.channels) == ("OGG_OPUS", 1)
    assert info.duration_s == pytest.approx(754.5)
    # Sent whole: an Ogg file has no header to strip.
    assert (info.data_offset, info.data_length) == (0, len(data))


def test_every_file_of_a_workload_is_distinct_even_at_equal_length(tmp_path: Path) -> None:
    workload = generate_opus(tmp_path, 4, 120.0, 120.0, seed=7)
    contents = {f.path.read_bytes() for f in workload.files}
    assert len(contents) == 4
    assert [f.encoding for f in workload.files] == ["OGG_OPUS"] * 4
    assert workload.audio_seconds == pytest.approx(480.0)


def test_a_duration_that_is_not_positive_is_refused() -> None:
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="positive"):
            silent_opus(bad)
