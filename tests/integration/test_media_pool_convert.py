"""The media pool running the real conversion: results and MediaError come back from the
worker, and a conversion killed at its bound leaves nothing under its destination."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchestrator.media.convert import Converted, convert
from orchestrator.media.errors import MediaError, MediaTimeout
from orchestrator.media.pool import MediaPool, time_bound
from orchestrator.media.probe import MediaInfo, media_info
from orchestrator.media.target import speech_target
from tests.support import formats, media_calls


@pytest.fixture
async def pool() -> AsyncIterator[MediaPool]:
    media_pool = MediaPool(2)
    yield media_pool
    await media_pool.close()


async def test_a_file_is_probed_and_converted_in_a_worker(pool: MediaPool, tmp_path: Path) -> None:
    src = formats.write(tmp_path, "mulaw", 2.0)
    info = await pool.run(media_info, src, timeout_s=time_bound(0), path=str(src))
    assert isinstance(info, MediaInfo)
    assert info.label == "µ-law WAV"
    dst = tmp_path / "out.ogg"
    done = await pool.run(
        convert, src, dst, speech_target(info), timeout_s=time_bound(2.0), path=str(src)
    )
    assert isinstance(done, Converted)
    assert media_info(dst).channels == 2


async def test_a_workers_media_error_names_the_file(pool: MediaPool, tmp_path: Path) -> None:
    src = tmp_path / "notes.m4a"
    src.write_text("not audio\n")
    with pytest.raises(MediaError, match=r"notes\.m4a: has no audio stream"):
        await pool.run(media_info, src, timeout_s=time_bound(0), path=str(src))


async def test_a_conversion_killed_at_its_bound_leaves_no_output(
    pool: MediaPool, tmp_path: Path
) -> None:
    src = formats.long_wav(tmp_path / "long.wav", 120)
    target = speech_target(media_info(src))
    dst = tmp_path / "out.ogg"
    # A bound far below what two minutes of 44.1 kHz stereo take to convert.
    with pytest.raises(MediaTimeout):
        await pool.run(convert, src, dst, target, timeout_s=0.01, path=str(src))
    assert not dst.exists()
    # The pool goes on: the same conversion within a fair bound completes.
    done = await pool.run(convert, src, dst, target, timeout_s=time_bound(120), path=str(src))
    assert done.duration_s == pytest.approx(120, abs=0.07)
    assert not (tmp_path / "out.ogg.part").exists()


async def peak_kib(src: Path, dst: Path) -> int:
    """A fresh worker's peak resident set after converting ``src``."""
    pool = MediaPool(1)
    try:
        target = speech_target(media_info(src))
        return await pool.run(
            media_calls.convert_and_peak, src, dst, target, timeout_s=time_bound(600), path="x"
        )
    finally:
        await pool.close()


async def test_a_conversion_streams_in_bounded_memory(tmp_path: Path) -> None:
    short = formats.long_wav(tmp_path / "short.wav", 10)
    long = formats.long_wav(tmp_path / "long.wav", 240)  # 40 MiB of samples more
    grown = await peak_kib(long, tmp_path / "long.ogg") - await peak_kib(short, tmp_path / "s.ogg")
    assert grown < 10 * 1024, f"the worker's peak grew by {grown} KiB with the file"
