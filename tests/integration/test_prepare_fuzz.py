"""What validate and the daemon's intake rely on: ``intake.audiocheck.prepare_file`` given
random bytes, or real files of every format cut short or damaged, either decides or raises
AudioError or MediaError (one line naming the file, never quoting it); nothing else escapes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.core.settings import RecognitionSettings
from orchestrator.intake.audio import AudioError
from orchestrator.intake.audiocheck import prepare_file
from orchestrator.intake.jobspec import JobSpec
from orchestrator.media.errors import MediaError
from orchestrator.speechkit import CATALOGUE
from tests.support import formats

MARKER = b"QZX-PREPARE-MARKER-"
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
SUFFIXES = [".wav", ".m4a", ".ogg", ".mp3", ".flac", ".aiff", ".webm", ".amr", ".raw", ".bin"]
JOBS = st.builds(
    RecognitionSettings,
    api=st.sampled_from(["v2", "v3", "asr_xml"]),
    convert=st.sampled_from(["auto", "always", "never"]),
    split=st.sampled_from(["auto", "never"]),
)


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("prepare-fuzz")
    made = {name: formats.write(folder, name, 1.0).read_bytes() for name in formats.FORMATS}
    made["gsm"] = formats.fixture("gsm.wav").read_bytes()
    made["amr"] = formats.fixture("tone.amr").read_bytes()
    return made


def suffix_of(name: str) -> str:
    return formats.FORMATS[name].suffix if name in formats.FORMATS else f".{name}"


def decides_or_refuses(path: Path, job_settings: RecognitionSettings, max_part_s: float) -> None:
    """``prepare_file`` returns, or raises one of its two errors, in one clean line."""
    job = JobSpec(str(path), "out", job_settings, 1)
    try:
        prepare_file(path, job, CATALOGUE, max_part_s)
    except (AudioError, MediaError) as error:
        text = str(error)
        assert text.startswith(f"{path}: "), text
        assert "\n" not in text
        assert MARKER.decode() not in text


@FUZZ
@given(data=st.binary(max_size=4096), suffix=st.sampled_from(SUFFIXES), job=JOBS)
def test_random_bytes_are_decided_or_refused(
    tmp_path: Path, data: bytes, suffix: str, job: RecognitionSettings
) -> None:
    path = tmp_path / f"random{suffix}"
    path.write_bytes(MARKER + data)
    decides_or_refuses(path, job, 0.5)


@FUZZ
@given(
    name=st.sampled_from([*sorted(formats.FORMATS), "gsm", "amr"]),
    keep=st.floats(min_value=0.0, max_value=1.0),
    flip=st.integers(min_value=0, max_value=2**16),
    damage=st.booleans(),
    job=JOBS,
)
def test_cut_and_damaged_files_of_every_format_are_decided_or_refused(
    audio: dict[str, bytes],
    tmp_path: Path,
    name: str,
    keep: float,
    flip: int,
    damage: bool,
    job: RecognitionSettings,
) -> None:
    data = bytearray(audio[name][: int(len(audio[name]) * keep)])
    if data and damage:
        data[flip % len(data)] ^= 0xFF
    path = tmp_path / f"cut{suffix_of(name)}"
    path.write_bytes(bytes(data))
    decides_or_refuses(path, job, 0.5)


@pytest.mark.slow
@settings(FUZZ, max_examples=400)
@given(
    data=st.binary(max_size=65536),
    suffix=st.sampled_from(SUFFIXES),
    job=JOBS,
    head=st.sampled_from([b"", b"RIFF\xff\xff\xff\xffWAVE", b"fLaC", b"OggS", b"FORM"]),
)
def test_many_random_files_are_decided_or_refused(
    tmp_path: Path, data: bytes, suffix: str, job: RecognitionSettings, head: bytes
) -> None:
    path = tmp_path / f"random{suffix}"
    path.write_bytes(head + data)
    decides_or_refuses(path, job, 0.5)
