"""Fuzzing the readers of user input in-process: manifests, configs and audio of any shape.

Properties: nothing raises but the documented user error; every problem is one line of
bounded length that never quotes a file's bytes; a manifest that loads names only files
under its input roots and outputs inside the output directory.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.config import load_config
from orchestrator.core.errors import Problem, UserInputError
from orchestrator.intake.audio import AudioError, probe
from orchestrator.intake.manifest import load_manifest, validate_manifest
from orchestrator.intake.roots import InputRoots, real_path
from orchestrator.outputs.write import output_paths
from tests.support import fuzz

# Hundreds of examples each: `make test` runs them, `make test-fast` does not.
pytestmark = pytest.mark.slow

AUDIO = Path(__file__).resolve().parents[2] / "examples" / "audio"
DATA = Path(__file__).resolve().parents[1] / "data"
# Bytes that must never appear in a message, as text or in hex.
MARKER = b"QZX-SECRET-MARKER-"
MARKER_FORMS = (MARKER.decode(), MARKER[:4].hex(), MARKER[:4].hex(" "))
FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """allowed/ (the input root: audio, raw bytes, a link out) and private/ (a secret)."""
    root = tmp_path_factory.mktemp("fuzz")
    allowed, private = root / "allowed", root / "private"
    (allowed / "calls").mkdir(parents=True)
    private.mkdir()
    shutil.copy(AUDIO / "greeting-mono.ogg", allowed / "a.ogg")
    shutil.copy(AUDIO / "voicemail-mono.wav", allowed / "b.wav")
    shutil.copy(AUDIO / "call-stereo.ogg", allowed / "calls" / "x.ogg")
    (allowed / "raw.pcm").write_bytes(MARKER * 64)
    (private / "secret.raw").write_bytes(MARKER * 64)
    (allowed / "link-out.raw").symlink_to(private / "secret.raw")
    return root


def roots_of(tree: Path) -> InputRoots:
    return InputRoots(roots=(real_path(tree / "allowed"),), denied=(real_path(tree / "out"),))


def check_problems(problems: list[Problem]) -> None:
    for problem in problems:
        line = str(problem)
        assert "\n" not in line
        assert "\r" not in line
        assert len(line) < 3000
        for form in MARKER_FORMS:
            assert form not in line, line


@FUZZ
@given(fuzz.documents(fuzz.manifests))
def test_any_manifest_loads_or_says_why(tree: Path, data: bytes) -> None:
    manifest_path = tree / "allowed" / "m.yaml"
    manifest_path.write_bytes(data)
    roots = roots_of(tree)
    try:
        manifest = load_manifest(manifest_path, roots)
    except UserInputError as exc:
        problems = exc.problems
    else:
        problems = []
    if problems:
        check_problems(problems)
        return
    for job in manifest.jobs:
        if not job.is_s3:
            assert real_path(Path(job.source)).is_relative_to(roots.roots[0]), job.source
        out = tree / "out"
        for path in output_paths(out, manifest.name, job.output, (1, 2)).values():
            assert path.resolve().is_relative_to(out / manifest.name)


@FUZZ
@given(fuzz.documents(fuzz.manifests))
def test_validate_never_raises_and_never_quotes_a_file(tree: Path, data: bytes) -> None:
    manifest_path = tree / "allowed" / "v.yaml"
    manifest_path.write_bytes(data)
    # With roots only: without them a glob of / would walk the whole disk (the user's own
    # doing in `validate`; the daemon always has roots).
    roots = roots_of(tree)
    probed: list[str] = []
    checked = validate_manifest(
        manifest_path, roots, lambda job, facts: probed.append(job.source) if facts else None
    )
    check_problems(checked.problems)
    for source in probed:
        assert real_path(Path(source)).is_relative_to(roots.roots[0])


@FUZZ
@given(fuzz.documents(fuzz.configs), st.booleans())
def test_any_config_loads_or_says_why(tree: Path, data: bytes, resolve: bool) -> None:
    path = tree / "config.yaml"
    path.write_bytes(data)
    env = {"SPEECHKIT_API_KEY": "k" * 20, "SHORT": "abc"}
    try:
        config = load_config(path, env=env, resolve_secrets=resolve)
    except UserInputError as exc:
        problems = exc.problems
    else:
        problems = []
    if problems:
        check_problems(problems)
        return
    check_problems(list(config.warnings))
    assert config.paths.input_roots
    for folder in (config.paths.output, config.paths.inbox, *config.paths.input_roots):
        assert folder.is_absolute()


def _audio_sources() -> list[bytes]:
    return [p.read_bytes() for p in sorted([*AUDIO.iterdir(), *DATA.iterdir()]) if p.is_file()]


SOURCES = _audio_sources()


@st.composite
def audio_files(draw: st.DrawFn) -> tuple[bytes, str, dict[str, Any]]:
    """A real recording cut short or damaged, or random bytes, with the marker inside."""
    kind = draw(st.sampled_from(["cut", "damaged", "random"]))
    if kind == "random":
        data = draw(st.binary(max_size=2048))
    else:
        source = draw(st.sampled_from(SOURCES))
        data = source[: draw(st.integers(0, len(source)))]
        if kind == "damaged":
            data = draw(fuzz.damaged(data[:8192]))
    at = draw(st.integers(0, len(data)))
    data = data[:at] + MARKER + data[at:]
    extension = draw(st.sampled_from([".ogg", ".opus", ".mp3", ".wav", ".raw", ".pcm", ""]))
    declared = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "encoding": st.sampled_from(["OGG_OPUS", "MP3", "LINEAR16_PCM"]),
                "sample_rate": st.sampled_from([8000, 16000, 48000, 44100]),
                "channels": st.integers(1, 8),
            },
        )
    )
    return data, extension, dict(declared)


@settings(FUZZ, max_examples=200)
@given(audio_files())
def test_any_bytes_probe_or_say_why_without_quoting_them(
    tmp_path_factory: pytest.TempPathFactory, sample: tuple[bytes, str, dict[str, Any]]
) -> None:
    data, extension, declared = sample
    folder = tmp_path_factory.getbasetemp() / "probe"
    folder.mkdir(exist_ok=True)
    path = folder / f"file{extension}"
    path.write_bytes(data)
    try:
        facts = probe(path, **declared)
    except AudioError as exc:
        message = str(exc)
    else:
        message = ""
    if message:
        for form in MARKER_FORMS:
            assert form not in message
        return
    assert facts.duration_s > 0
    assert 0 <= facts.data_offset <= facts.data_offset + facts.data_length <= len(data)
    assert os.path.getsize(path) == len(data)
