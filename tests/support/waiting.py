"""Poll something until it says it is done: an operation, a listing, a store.

status = await poll_until(lambda: client.get_operation(op_id), lambda s: s.done)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from orchestrator.speechkit.base import OperationStatus, RecognitionClient

T = TypeVar("T")


async def poll_until(
    read: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    limit_s: float = 30.0,
    step_s: float = 0.02,
    what: str = "the awaited state",
) -> T:
    """Call ``read`` every ``step_s`` until ``done`` holds for what it returns; that value.
    AssertionError naming ``what`` and the last value after ``limit_s`` (a guard against a
    hang, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while True:
        value = await read()
        if done(value):
            return value
        if loop.time() > deadline:
            raise AssertionError(f"no {what} after {limit_s} s; last seen: {value!r}")
        await asyncio.sleep(step_s)


async def operation_done(client: RecognitionClient, operation_id: str) -> OperationStatus:
    """Check an operation until it says done (finished or failed); its last status."""
    return await poll_until(
        lambda: client.get_operation(operation_id),
        lambda status: status.done,
        what=f"finished operation {operation_id}",
    )
