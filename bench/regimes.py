"""The two workloads ``python -m bench`` measures, as plain parameters (pure).

- The default regime: one batch (at most 450 jobs) inside a single quota window, the
  full quotas (500 submissions, 2,500 status checks per service hour): how each tool
  polls when the quota is not the limit.
- The backlog regime: a backlog several submission windows deep, so the submission quota
  is the throughput and the status-check quota a budget per job. It runs once per
  ratio of status checks to submissions: the real service's 5:1, and a tight 1.5:1.
  The window stays one service hour and the clock runs 100 times faster (a window is 36
  wall seconds); the quotas are scaled down to 50 submissions per window, so that the
  backlog is 175 jobs and the daemon is asked for 1.4 jobs per wall second, the rate of
  the issue's own measurement (100 per window at x50), not a rate that would measure
  this machine's CPU rather than the daemon's decisions. Processing times are noisy
  (log-normal, sigma 0.25) and the emulator processes only ``max_concurrent`` operations
  at once: a burst of submissions queues, as on a busy service.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.contenders import Quotas
from bench.services import EmulatorKnobs

SERVICE_HOUR_S = 3600.0


@dataclass(frozen=True)
class DefaultRegime:
    """One batch inside one quota window, at the service's own quotas."""

    jobs: int = 100
    speed: float = 10.0
    min_s: float = 20.0
    max_s: float = 240.0
    # Service seconds each operation takes on top of its audio's (the emulator's
    # ``--processing-overhead-s``); 0 leaves processing time proportional to the audio.
    overhead_s: float = 0.0

    @classmethod
    def quick(cls) -> DefaultRegime:
        """A smoke run: 12 short files."""
        return cls(jobs=12, max_s=90.0)

    def knobs(self) -> EmulatorKnobs:
        """The emulator's options: its defaults, but for the overhead when one is set."""
        return EmulatorKnobs(processing_overhead_s=self.overhead_s or None)


@dataclass(frozen=True)
class BacklogRegime:
    """A backlog ``depth`` submission windows deep, once per status:submission ratio."""

    speed: float = 100.0
    submit_quota: int = 50
    ratios: tuple[float, ...] = (5.0, 1.5)
    depth: float = 3.5
    min_s: float = 300.0
    max_s: float = 3600.0
    processing_noise: float = 0.25
    max_concurrent: int = 20
    overhead_s: float = 0.0  # service seconds per operation beside its audio's

    def __post_init__(self) -> None:
        if self.speed <= 0:
            raise ValueError("the backlog speed must be positive")
        if self.submit_quota < 1:
            raise ValueError("the backlog submission quota must be at least 1")
        if not self.ratios or any(r <= 0 for r in self.ratios):
            raise ValueError("each status:submission ratio must be positive")
        if self.depth <= 0:
            raise ValueError("the backlog depth must be positive")
        if not 0 < self.min_s <= self.max_s:
            raise ValueError("durations must satisfy 0 < min <= max")
        if self.processing_noise < 0 or self.max_concurrent < 1:
            raise ValueError("noise must not be negative and max_concurrent at least 1")
        if not 0 <= self.overhead_s < float("inf"):
            raise ValueError("the overhead must be a number of seconds, not negative")

    @classmethod
    def quick(cls) -> BacklogRegime:
        """A smoke run: 25 jobs, 2.5 windows of 10 submissions, 3-second windows."""
        return cls(speed=1200.0, submit_quota=10, depth=2.5, min_s=60.0, max_s=600.0)

    @property
    def jobs(self) -> int:
        """How many jobs make a backlog ``depth`` windows deep."""
        return max(1, round(self.depth * self.submit_quota))

    @property
    def window_wall_s(self) -> float:
        """The quota window on the emulator's clock: one service hour."""
        return SERVICE_HOUR_S / self.speed

    def status_quota(self, ratio: float) -> int:
        """Status checks per window at ``ratio`` checks per submission."""
        return max(1, round(ratio * self.submit_quota))

    def quotas(self, ratio: float) -> Quotas:
        """The daemon's quotas at ``ratio``: the same the emulator enforces."""
        return Quotas(submissions=self.submit_quota, status_checks=self.status_quota(ratio))

    def knobs(self, ratio: float) -> EmulatorKnobs:
        """The emulator's options at ``ratio`` (every one given, not left to its defaults)."""
        return EmulatorKnobs(
            submit_quota=self.submit_quota,
            status_quota=self.status_quota(ratio),
            quota_window=self.window_wall_s,
            processing_noise=self.processing_noise,
            max_concurrent=self.max_concurrent,
            processing_overhead_s=self.overhead_s or None,
        )


def ratio_label(ratio: float) -> str:
    """``5:1``, ``1.5:1``."""
    return f"{ratio:g}:1"
