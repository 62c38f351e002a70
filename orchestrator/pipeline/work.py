"""The work in flight in this process: the jobs with a step running, the tasks to await
when draining, and each stage's wake-up. Made first, so that the scheduler (which starts
steps), the learning (which must not re-time a job under a step) and every part that
kicks a stage share it without reaching into each other."""

from __future__ import annotations

import asyncio

from orchestrator.core.jobs import Stage


class InFlight:
    """Steps and tasks in flight, and the stages' wake-ups."""

    def __init__(self) -> None:
        self.working: set[int] = set()  # job ids with a step in flight in this process
        self.tasks: set[asyncio.Task[None]] = set()
        self.wake = {stage: asyncio.Event() for stage in Stage}

    def kick(self, stage: Stage | None = None) -> None:
        """Wake one stage (or all) to look for due work now."""
        for name in [stage] if stage else list(Stage):
            self.wake[name].set()

    def track(self, task: asyncio.Task[None]) -> None:
        """Count a background task among the work in flight (awaited when draining)."""
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
