"""Loudness read from real files: quiet in the gaps on every channel, loud in the bursts,
and cuts planned from it land in the gaps."""

from __future__ import annotations

from array import array
from pathlib import Path

import pytest

from orchestrator.media.probe import media_info
from orchestrator.media.quiet import SILENCE_DB, cut_points, loudness
from tests.support import formats
from tests.support.wavs import wav_bytes

WINDOW_S = 0.1


@pytest.mark.parametrize("name", ["mulaw", "flac", "m4a", "vorbis"])
def test_levels_are_low_in_the_gaps_and_high_in_the_bursts(tmp_path: Path, name: str) -> None:
    path = formats.write(tmp_path, name, 2.0)
    levels = loudness(path, WINDOW_S)
    assert len(levels) == pytest.approx(2.0 / WINDOW_S, abs=1)
    # Whole windows well inside a burst, and well inside a gap (lossy codecs ring at edges).
    loud = [levels[i] for i in (0, 1, 5, 6, 10, 11)]
    quiet = [levels[i] for i in (3, 8, 13)]
    assert min(loud) > -20
    assert max(quiet) < -50
    assert min(levels) >= SILENCE_DB


def test_the_loudest_channel_counts(tmp_path: Path) -> None:
    # The left channel is silent throughout, the right speaks: its bursts are loud windows.
    right = array("h", formats.pcm(8000, 1, 1.0))
    both = array("h", [0] * (2 * len(right)))
    both[1::2] = right
    path = tmp_path / "one-sided.wav"
    path.write_bytes(wav_bytes(both.tobytes(), 8000, 2))
    levels = loudness(path, WINDOW_S)
    assert levels[0] > -20
    assert levels[3] == SILENCE_DB


def test_cuts_planned_from_a_file_land_in_its_gaps(tmp_path: Path) -> None:
    path = formats.write(tmp_path, "wav44", 6.0)
    info = media_info(path)
    parts = cut_points(loudness(path, WINDOW_S), WINDOW_S, info.duration_s, 1.4, search_s=0.6)
    assert parts[-1][1] == info.duration_s
    for _, end in parts[:-1]:
        assert not formats.is_loud(end)
