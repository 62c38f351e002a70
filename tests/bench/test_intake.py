"""The intake bench, run small: every child finishes, the figures are read, the jobs counted."""

from __future__ import annotations

import wave
from pathlib import Path

from bench.intake import main, make_audio, run


def test_the_audio_is_a_few_real_files_under_many_names(tmp_path: Path) -> None:
    make_audio(tmp_path / "audio", 2500)
    files = sorted((tmp_path / "audio").iterdir())
    assert len(files) == 2500
    assert len({f.stat().st_ino for f in files}) == 3  # one real file per thousand names
    with wave.open(str(files[-1])) as clip:
        assert (clip.getnchannels(), clip.getframerate()) == (1, 8000)


def test_a_small_run_measures_both_paths(tmp_path: Path) -> None:
    found = {m.what: m for m in run(40, tmp_path)}
    assert set(found) == {"imports only", "submit", "intake"}
    assert all(m.returncode == 0 for m in found.values()), found
    assert "taken=True jobs=40" in found["intake"].output
    assert "submitted" in found["submit"].output
    assert all(m.peak_rss_mib > 0 and m.cpu_s > 0 for m in found.values())
    assert main(["--files", "5", "--workdir", str(tmp_path / "again")]) == 0
