"""The event loop's errors go through the JSON logger, one event per kind per interval."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from orchestrator.service.loop_errors import LoopErrors


def test_a_flood_of_loop_errors_is_one_event_per_kind_per_interval_counted() -> None:
    now = [0.0]
    handler = LoopErrors(interval_s=60.0, clock=lambda: now[0])
    loop = asyncio.new_event_loop()
    try:
        loop.set_exception_handler(handler)
        error = OSError(24, "Too many open files")
        with capture_logs() as logs:
            for _ in range(10_000):
                loop.call_exception_handler(
                    {"message": "socket.accept() out of system resource", "exception": error}
                )
            loop.call_exception_handler({"message": "another kind"})
            now[0] = 61.0
            loop.call_exception_handler(
                {"message": "socket.accept() out of system resource", "exception": error}
            )
    finally:
        loop.close()
    events = [e for e in logs if e["event"] == "loop.error"]
    assert [e["left_out"] for e in events] == [0, 0, 9_999]
    assert events[0]["error"] == "OSError: [Errno 24] Too many open files"
    assert events[1]["message"] == "another kind"
