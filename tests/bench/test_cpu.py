"""CPU time per job, from the kernel's accounting of a reaped child."""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

import pytest

from bench.cpu import CpuTimes, live_cpu, parse_proc_stat, per_job_ms
from bench.procs import run_measured


def test_cpu_times_come_from_a_real_rusage() -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    times = CpuTimes.of(usage)
    assert (times.user_s, times.system_s) == (usage.ru_utime, usage.ru_stime)
    assert times.total_s == pytest.approx(usage.ru_utime + usage.ru_stime)


def test_cpu_per_job_is_user_plus_system_over_the_jobs_in_milliseconds() -> None:
    assert per_job_ms(CpuTimes(user_s=30.5, system_s=4.5), 175) == pytest.approx(200.0)
    assert per_job_ms(None, 175) is None
    with pytest.raises(ValueError, match="jobs"):
        per_job_ms(CpuTimes(1.0, 0.0), 0)
    with pytest.raises(ValueError, match="negative"):
        CpuTimes(-1.0, 0.0)


async def test_a_reaped_child_reports_its_exit_status_and_cpu(tmp_path: Path) -> None:
    measured = await run_measured(
        [sys.executable, "-c", "sum(range(10**6)); raise SystemExit(3)"],
        env={},
        log=tmp_path / "child.log",
        limit_s=60.0,
    )
    assert measured.exit_code == 3
    assert not measured.timed_out
    assert measured.cpu.total_s > 0


async def test_a_child_past_its_limit_is_stopped_and_its_own_memory_measured(
    tmp_path: Path,
) -> None:
    # The child holds 40 MiB until it is stopped; its peak is its own, not the bench's
    # (whose pages a forked child shares until it execs).
    code = (
        "import time; b = bytearray(40 * 2**20); b[::4096] = b'x' * len(b[::4096]); "
        "print('ready', flush=True); time.sleep(600)"
    )
    measured = await run_measured(
        [sys.executable, "-c", code], env={}, log=tmp_path / "child.log", limit_s=2.0
    )
    assert measured.timed_out
    assert measured.exit_code == -15  # SIGTERM, sent once the limit passed
    assert (tmp_path / "child.log").read_text() == "ready\n"
    assert measured.peak_rss_kib is not None
    assert 40 * 1024 < measured.peak_rss_kib < 200 * 1024


def test_proc_stat_counts_own_and_reaped_childrens_ticks() -> None:
    # A real line's shape, with a command name that holds spaces and parentheses.
    line = (
        "4242 (python (x) y) S 4000 4242 4000 0 -1 4194304 9876 0 0 0 "
        "250 50 30 20 20 0 3 0 322800 3133440 380 18446744073709551615 0 0 0 0 0 0 0 0 0 "
        "0 0 0 17 1 0 0 0 0 0"
    )
    times = parse_proc_stat(line, ticks_per_s=100.0)
    assert times == CpuTimes(user_s=2.8, system_s=0.7)
    with pytest.raises(ValueError, match="ticks"):
        parse_proc_stat(line, ticks_per_s=0.0)


def test_a_running_process_is_read_from_proc() -> None:
    ours = live_cpu(os.getpid())
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert ours is not None
    # Ours and our reaped children's; clock ticks are coarser than getrusage's answer.
    assert ours.user_s == pytest.approx(own.ru_utime + children.ru_utime, abs=0.05)
    assert live_cpu(2**22 + 1) is None  # above any pid this kernel hands out
