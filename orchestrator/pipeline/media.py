"""What the pipeline asks of FFmpeg, in worker processes off the event loop: what a file
holds, its conversion, and where a long recording may be cut. The workers start with the
first file that needs them (a daemon whose audio all goes as it is starts none), each
call is bounded in time by the audio's length, and a worker that dies or hangs is
replaced without disturbing the others (``media.pool``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.core.audio import AudioFacts
from orchestrator.core.parts import Part
from orchestrator.media import calls
from orchestrator.media.pool import MediaPool, time_bound
from orchestrator.media.target import Target

if TYPE_CHECKING:
    # Names only: FFmpeg's modules load in the workers (``media.calls``), not here.
    from orchestrator.media.convert import Converted
    from orchestrator.media.probe import MediaInfo

# Loudness is measured in windows this long: fine enough to find a pause between words.
LOUDNESS_WINDOW_S = 0.1
# A probe decodes at most the file when its header does not tell its length.
PROBE_BOUND_S = 30.0


def workers(configured: int | None) -> int:
    """Conversions at once: as configured, else one fewer than the cores (at least one).

    A core is left to the daemon: with every core converting, its event loop waited for the
    CPU (the status endpoint's p99 answer 71 ms while converting on two cores; 42 ms with
    one worker, `python -m bench.convert`), and so would its requests' timing."""
    if configured is not None:
        return configured
    return max(1, (os.cpu_count() or 1) - 1)


class Media:
    """The pipeline's worker processes for audio, started on first use."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: MediaPool | None = None

    def _get(self) -> MediaPool:
        if self._pool is None:
            self._pool = MediaPool(self.workers)
        return self._pool

    async def info(self, path: Path, name: str, size_bytes: int) -> MediaInfo:
        """What FFmpeg finds in the file (MediaError when nothing it can decode)."""
        # A file whose length the header does not say is decoded whole: bounded by its size
        # (at least a megabyte a second, far slower than any decoder).
        bound = PROBE_BOUND_S + size_bytes / 1e6
        return await self._get().run(calls.media_info, path, timeout_s=bound, path=name)

    async def convert(
        self, source: Path, target_file: Path, target: Target, facts: AudioFacts, part: Part | None
    ) -> Converted:
        """Convert the file (or the part's range of it) to ``target_file``."""
        start, end = (part.start_s, part.end_s) if part is not None else (0.0, None)
        length = (end if end is not None else facts.duration_s) - start
        return await self._get().run(
            calls.convert,
            source,
            target_file,
            target,
            start,
            end,
            timeout_s=time_bound(length),
            path=str(source),
        )

    async def cuts(
        self, source: Path, duration_s: float, max_part_s: float
    ) -> list[tuple[float, float]]:
        """The parts of a long recording, cut at its quietest moments near the limit."""
        return await self._get().run(
            calls.cuts,
            source,
            LOUDNESS_WINDOW_S,
            duration_s,
            max_part_s,
            timeout_s=time_bound(duration_s),
            path=str(source),
        )

    async def close(self) -> None:
        """Stop the workers (if any were started)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
