"""The media pool: answers come back, our errors pass through, a hanging or dying worker is
replaced while every other call goes on, and close() leaves no process behind."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from orchestrator.media.errors import MediaCrash, MediaError, MediaTimeout
from orchestrator.media.pool import BOUND_BASE_S, MediaPool, time_bound
from orchestrator.media.worker import NICENESS
from tests.support import media_calls
from tests.support.waiting import poll_until

# A bound for calls that answer at once: generous, as a spawned worker imports FFmpeg first.
PROMPT_S = 60.0


@pytest.fixture
async def pool() -> AsyncIterator[MediaPool]:
    media_pool = MediaPool(2)
    yield media_pool
    await media_pool.close()


def alive(pid: int) -> bool:
    """Whether the process exists at all (a zombie not yet reaped counts)."""
    return Path(f"/proc/{pid}").exists()


def ended(pid: int) -> bool:
    """Whether the process has stopped running (gone, or a zombie awaiting its reaping)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat[stat.rindex(")") + 2] in "ZX"


async def test_a_result_comes_back(pool: MediaPool) -> None:
    assert await pool.run(media_calls.double, 21, timeout_s=PROMPT_S, path="a.wav") == 42


async def test_a_worker_yields_the_cpu_to_the_daemon(pool: MediaPool) -> None:
    # A conversion fills its core; the daemon's event loop must run as soon as it has work.
    lower = await pool.run(media_calls.niceness, timeout_s=PROMPT_S, path="a.wav")
    assert lower == min(19, os.nice(0) + NICENESS)


async def test_calls_beyond_the_workers_wait_their_turn(pool: MediaPool) -> None:
    calls = [pool.run(media_calls.double, n, timeout_s=PROMPT_S, path="a.wav") for n in range(7)]
    assert await asyncio.gather(*calls) == [n * 2 for n in range(7)]


async def test_a_media_error_passes_through_as_it_is(pool: MediaPool) -> None:
    with pytest.raises(MediaError) as caught:
        await pool.run(media_calls.refuse, "calls/a.wav", timeout_s=PROMPT_S, path="calls/a.wav")
    assert type(caught.value) is MediaError
    assert str(caught.value) == "calls/a.wav: is not audio"


async def test_another_exception_becomes_a_media_error_naming_the_file(pool: MediaPool) -> None:
    with pytest.raises(MediaError, match=r"^b\.wav: conversion failed \(KeyError\)$"):
        await pool.run(media_calls.stumble, timeout_s=PROMPT_S, path="b.wav")


async def test_a_hanging_call_times_out_and_the_pool_serves_the_next(pool: MediaPool) -> None:
    first = await pool.run(media_calls.pid, timeout_s=PROMPT_S, path="x")
    with pytest.raises(MediaTimeout, match=r"^slow\.wav: conversion stopped after"):
        await pool.run(media_calls.hang, timeout_s=0.5, path="slow.wav")
    assert await pool.run(media_calls.double, 4, timeout_s=PROMPT_S, path="x") == 8
    # The hung worker was killed (not left running beside its replacement).
    pids = await asyncio.gather(
        *(pool.run(media_calls.pid, timeout_s=PROMPT_S, path="x") for _ in range(2))
    )
    assert len(set(pids)) <= 2
    if first not in pids:
        assert not alive(first)


@pytest.mark.parametrize("crash", [media_calls.exit_at_once, media_calls.segfault])
async def test_a_dying_worker_is_a_crash_and_the_pool_goes_on(
    pool: MediaPool, crash: Callable[[], None]
) -> None:
    with pytest.raises(MediaCrash, match=r"^bad\.wav: the conversion's worker process died"):
        await pool.run(crash, timeout_s=PROMPT_S, path="bad.wav")
    assert await pool.run(media_calls.double, 5, timeout_s=PROMPT_S, path="x") == 10


async def test_a_neighbours_crash_does_not_disturb_a_running_call(
    pool: MediaPool, tmp_path: Path
) -> None:
    flag = tmp_path / "go"
    running = asyncio.create_task(
        pool.run(media_calls.wait_for, flag, "done", timeout_s=PROMPT_S, path="long.wav")
    )
    with pytest.raises(MediaCrash):
        await pool.run(media_calls.exit_at_once, timeout_s=PROMPT_S, path="bad.wav")
    flag.touch()
    assert await running == "done"


async def test_close_leaves_no_child_process(tmp_path: Path) -> None:
    pool = MediaPool(2)
    flag = tmp_path / "never"
    pids = await asyncio.gather(
        *(pool.run(media_calls.pid, timeout_s=PROMPT_S, path="x") for _ in range(2))
    )
    busy = asyncio.create_task(
        pool.run(media_calls.wait_for, flag, "x", timeout_s=PROMPT_S, path="busy.wav")
    )
    await asyncio.sleep(0)
    await pool.close()
    await pool.close()  # idempotent
    with pytest.raises(MediaError):
        await busy
    assert not [pid for pid in pids if alive(pid)]
    assert not [p for p in multiprocessing.active_children() if p.name == "speechkit-media"]
    with pytest.raises(MediaError, match="closed"):
        await pool.run(media_calls.double, 1, timeout_s=PROMPT_S, path="late.wav")


def test_the_time_bound_grows_with_the_audio() -> None:
    assert time_bound(0) == BOUND_BASE_S
    assert time_bound(3600) > time_bound(60) > BOUND_BASE_S


async def test_a_worker_that_died_while_idle_is_replaced_before_the_next_call() -> None:
    pool = MediaPool(1)
    try:
        first = await pool.run(media_calls.pid, timeout_s=PROMPT_S, path="x")
        os.kill(first, signal.SIGKILL)
        await poll_until(_async(lambda: ended(first)), bool, what="the worker's end")
        second = await pool.run(media_calls.pid, timeout_s=PROMPT_S, path="x")
        assert second != first
    finally:
        await pool.close()


def _async(fn: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def read() -> bool:
        return fn()

    return read


async def test_a_worker_is_deaf_to_the_signals_a_terminal_or_systemd_sends(tmp_path: Path) -> None:
    pool = MediaPool(1)
    flag = tmp_path / "go"
    try:
        worker = await pool.run(media_calls.pid, timeout_s=PROMPT_S, path="x")
        running = asyncio.create_task(
            pool.run(media_calls.wait_for, flag, "done", timeout_s=PROMPT_S, path="a.wav")
        )
        started = tmp_path / "go.started"
        await poll_until(_async(started.exists), bool, what="the call running")
        os.kill(worker, signal.SIGINT)
        os.kill(worker, signal.SIGTERM)
        flag.touch()
        assert await running == "done"
    finally:
        await pool.close()
