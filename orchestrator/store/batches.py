"""New jobs pulled from a stream in batches, the next one read while the current one is
inserted: a manifest's expansion (a directory walk, in a worker thread) and the
database's work (which releases the GIL) overlap instead of taking turns."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncGenerator, Iterable

from orchestrator.store.types import NewJob

INSERT_BATCH = 2000


async def batches(
    jobs: Iterable[NewJob], size: int = INSERT_BATCH
) -> AsyncGenerator[list[NewJob], None]:
    """``jobs`` in lists of at most ``size``, each pulled in a worker thread while the
    caller works on the one before. An exception the stream raises comes out of the
    iteration; when the caller stops early, the read under way is waited for (a thread
    cannot be cancelled), so that nothing goes on reading after it."""
    source = iter(jobs)

    def pull() -> list[NewJob]:
        return list(itertools.islice(source, size))

    ahead = asyncio.ensure_future(asyncio.to_thread(pull))
    try:
        while batch := await ahead:
            ahead = asyncio.ensure_future(asyncio.to_thread(pull))
            yield batch
    finally:
        if not ahead.done():
            with contextlib.suppress(BaseException):
                await asyncio.shield(ahead)
        elif not ahead.cancelled():
            ahead.exception()  # retrieved: an error of a read nobody waits for is dropped
