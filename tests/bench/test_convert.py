"""The conversion bench, run small: both contenders convert the corpus and the table says so."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from bench.convert import ffmpeg_command, groups, make_corpus, parse, render, run, write
from bench.convert_daemon import DaemonResult, copies, render_daemon
from orchestrator.media.probe import media_info


def test_the_corpus_is_each_group_in_its_format(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path, groups(2, quick=True), 1.5)
    labels = {name: media_info(files[0]).label for name, files in corpus.items()}
    assert list(labels.values()) == ["µ-law WAV", "16-bit PCM WAV", "FLAC", "M4A (AAC)"]
    assert [len(files) for files in corpus.values()] == [2, 1, 1, 1]
    assert media_info(corpus["telephony µ-law WAV 8k stereo"][1]).duration_s == 1.5


def test_ffmpeg_is_asked_for_the_same_conversion(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path, groups(1, quick=True), 1.0)
    src = corpus["telephony µ-law WAV 8k stereo"][0]
    command = " ".join(ffmpeg_command("ffmpeg", src, tmp_path / "o.ogg"))
    assert "-threads 1" in command
    assert "-c:a libopus" in command
    assert "-b:a 32000 -ar 8000 -ac 2" in command


def test_a_quick_run_converts_everything_and_reports(tmp_path: Path) -> None:
    opts = parse(["--quick", "--workers", "2"])
    result = asyncio.run(run(opts, tmp_path))
    assert set(result.ours) == {g.name for g in groups(opts.files, quick=True)}
    assert all(t.audio_s > 0 and t.cpu_s > 0 and t.bytes_out > 0 for t in result.ours.values())
    assert result.lateness_ms
    text = render(result, 2)
    assert "event loop lateness while converting: p50" in text
    # The real daemon converted each of its files while its status endpoint answered.
    assert result.daemon is not None
    assert result.daemon.problem is None
    assert result.daemon.conversions == opts.daemon_files == 3
    assert result.daemon.answers_ms
    assert "GET /status answered in p50" in text
    if shutil.which("ffmpeg") is not None:
        assert result.ffmpeg is not None
        assert set(result.ffmpeg) == set(result.ours)
        assert "ours/ffmpeg" in text


def test_without_ffmpeg_the_baseline_is_skipped_and_said_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    opts = parse(["--quick", "--workers", "1", "--files", "1", "--daemon-files", "0"])
    result = asyncio.run(run(opts, tmp_path))
    assert result.ffmpeg is None
    assert result.daemon is None
    assert "ffmpeg: not installed, the baseline is skipped" in render(result, 1)


def test_quick_keeps_the_corpus_tiny() -> None:
    opts = parse(["--quick", "--files", "50"])
    assert (opts.files, opts.seconds) == (2, 3.0)


def test_the_daemons_files_differ_so_each_is_converted(tmp_path: Path) -> None:
    first = tmp_path / "call.wav"
    write(groups(1, quick=True)[0], first, 1.0, seed=3)
    files = copies(first, 3)
    assert len({f.read_bytes() for f in files}) == 3
    assert {media_info(f).duration_s for f in files} == {1.0}


def test_the_daemons_line_says_when_nothing_was_measured() -> None:
    result = DaemonResult(files=2, audio_s=10.0, problem="the daemon exited with status 1")
    assert result.summary() is None
    lines = render_daemon(result)
    assert "no /status answer during the conversions" in lines[0]
    assert lines[1] == "  problem: the daemon exited with status 1"
    result.answers_ms = [float(n) for n in range(1, 101)]
    assert result.summary() == {"p50": 50.5, "p99": 100.0, "max": 100.0}
    assert "over 100 requests" in render_daemon(result)[0]
