"""A step's log lines carry its job's manifest and id, bound once for the step; lines
outside it (and tasks it starts with a context of their own) do not."""

from __future__ import annotations

import asyncio
import contextvars

from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from orchestrator.core.jobs import Job, State
from orchestrator.core.parts import Part
from orchestrator.pipeline.pipeline import logged
from orchestrator.telemetry.logs import get_logger
from tests.support.jobs import make_job

log = get_logger()


async def test_a_step_logs_with_its_job_bound() -> None:
    async def step(job: Job, entered: bool) -> None:
        log.info("job.something", entered=entered)

        async def elsewhere() -> None:
            log.info("polling.rescheduled", jobs=1)

        await asyncio.get_running_loop().create_task(elsewhere(), context=contextvars.Context())

    with capture_logs(processors=[merge_contextvars]) as events:
        await logged(step)(make_job(7, State.QUEUED, manifest="calls"), True)
        log.info("daemon.idle")
    assert events == [
        {
            "manifest": "calls",
            "job_id": 7,
            "entered": True,
            "event": "job.something",
            "log_level": "info",
        },
        {"jobs": 1, "event": "polling.rescheduled", "log_level": "info"},
        {"event": "daemon.idle", "log_level": "info"},
    ]


async def test_a_part_jobs_step_logs_its_parent_and_part() -> None:
    async def step(job: Job, entered: bool) -> None:
        log.info("upload.done")

    part = make_job(9, State.QUEUED, manifest="calls", parent_id=7, part=Part(1, 3, 10.0, 20.0))
    with capture_logs(processors=[merge_contextvars]) as events:
        await logged(step)(part, False)
    assert events == [
        {
            "manifest": "calls",
            "job_id": 9,
            "parent_id": 7,
            "part": "part 2 of 3",
            "event": "upload.done",
            "log_level": "info",
        }
    ]
