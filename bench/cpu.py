"""CPU time of the bench's children, from the kernel's own accounting.

When the bench reaps a contender with ``wait4`` (:func:`bench.procs.run_measured`), the
kernel answers with that child's resource usage: its user and system time plus those of
every descendant it waited for in turn, i.e. its whole process tree, exactly, whatever
else runs at the same time. A service still running (the emulator, the S3 server) is
read from ``/proc/<pid>/stat`` instead, just before it is stopped.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CpuTimes:
    """User and system CPU seconds."""

    user_s: float
    system_s: float

    def __post_init__(self) -> None:
        if self.user_s < 0 or self.system_s < 0:
            raise ValueError("CPU times cannot be negative")

    @property
    def total_s(self) -> float:
        """User plus system."""
        return self.user_s + self.system_s

    @classmethod
    def of(cls, usage: resource.struct_rusage) -> CpuTimes:
        """The CPU times of a ``getrusage`` or ``wait4`` answer."""
        return cls(usage.ru_utime, usage.ru_stime)


def per_job_ms(cpu: CpuTimes | None, jobs: int) -> float | None:
    """Milliseconds of CPU per job; None when unmeasured."""
    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    return None if cpu is None else cpu.total_s * 1000.0 / jobs


def parse_proc_stat(text: str, ticks_per_s: float) -> CpuTimes:
    """CPU times in a ``/proc/<pid>/stat`` line: the process's own and its reaped children's.

    The second field (the command name, in parentheses) may hold spaces and parentheses
    itself, so the fields are counted from the last ``)``: utime, stime, cutime and
    cstime are fields 14 to 17, in clock ticks.
    """
    if ticks_per_s <= 0:
        raise ValueError("clock ticks per second must be positive")
    fields = text[text.rindex(")") + 1 :].split()
    # fields[0] is field 3 (the state): field n is fields[n - 3].
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return CpuTimes((utime + cutime) / ticks_per_s, (stime + cstime) / ticks_per_s)


def live_cpu(pid: int) -> CpuTimes | None:
    """CPU time so far of a running process; None when it is gone (or not on Linux)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text("ascii", errors="replace")
        ticks = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None
    return parse_proc_stat(text, float(ticks))
