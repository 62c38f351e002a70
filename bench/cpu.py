"""CPU time of a contender, from the kernel's own accounting (no sampling).

When the bench reaps a contender with ``wait4`` (:func:`bench.procs.run_measured`), the
kernel answers with that child's resource usage: its user and system time plus those of
every descendant it waited for in turn, i.e. its whole process tree, exactly, whatever
else runs at the same time.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass


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
