"""Whether the object storage bucket can be used, and what waits while it cannot.

A bucket that is missing, or credentials it refuses or that grant no rights, will not
mend by themselves, and no job is to blame: failing the jobs that meet it would fail a
whole backlog at once. Instead the bucket is closed (one log event, ``/healthz``
degraded, the ``storage_ok`` gauge at 0), the stages take no job that needs it, the jobs
that met it wait without spending an attempt, and a check writes a small object again
and again, with a growing delay, until it succeeds: then the bucket opens (one event)
and the stages resume. A check runs at the start and at every reload too.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass

from orchestrator.core.backoff import RetryPolicy, backoff_delay
from orchestrator.pipeline.settings import PipelineSettings
from orchestrator.storage.protocol import ObjectStorage, StorageError
from orchestrator.telemetry.logs import get_logger
from orchestrator.telemetry.metrics import DaemonMetrics

log = get_logger()

# Re-checks of a closed bucket wait at most this long (less when retry.max_delay_s is
# less): an operator who mended it should not wait for minutes; a reload checks at once.
MAX_RECHECK_S = 60.0


@dataclass
class Closed:
    """Why the bucket cannot be used, since when, and how many checks failed since."""

    error: str
    since: float
    checks: int = 0


class BucketGate:
    """Open while the bucket takes objects; closed, and checked again with backoff, after
    an error that says it cannot (a StorageError of kind BUCKET)."""

    def __init__(
        self,
        storage: ObjectStorage,
        metrics: DaemonMetrics,
        settings: Callable[[], PipelineSettings],
        clock: Callable[[], float],
        rng: random.Random,
    ) -> None:
        self.storage = storage
        self.metrics = metrics
        self._settings = settings
        self._clock = clock
        self._rng = rng
        self.closed: Closed | None = None
        self._wake = asyncio.Event()  # check now (closed, or a reload)
        self.on_open: Callable[[], None] = lambda: None  # the stages that waited resume
        metrics.storage_ok.set(1)

    @property
    def open(self) -> bool:
        """Whether what needs the bucket may go on."""
        return self.closed is None

    def problem(self) -> str | None:
        """What ``/healthz`` says while the bucket is closed, else None."""
        if self.closed is None:
            return None
        return f"storage (bucket {self.storage.bucket}): {self.closed.error}"

    def close(self, error: StorageError) -> None:
        """The bucket cannot be used: say so once, and have it checked again."""
        if self.closed is not None:
            return
        self.closed = Closed(error.message, self._clock())
        self.metrics.storage_ok.set(0)
        log.error(
            "storage.unavailable",
            bucket=self.storage.bucket,
            error=error.message,
            code=error.code,
        )
        self._wake.set()

    def recheck(self) -> None:
        """Check the bucket now (a reload: the operator may have mended it)."""
        self._wake.set()

    async def check(self) -> bool:
        """Write the check object now: open the bucket when it succeeds, close it when the
        bucket is unusable; a passing trouble (a timeout) changes nothing. Whether it is
        open afterwards."""
        try:
            await self.storage.check(self._settings().key_prefix)
        except StorageError as exc:
            if exc.bucket_wide:
                self.close(exc)
            elif self.closed is None:
                log.warning("storage.check_failed", bucket=self.storage.bucket, error=exc.message)
            if self.closed is not None:
                self.closed.checks += 1
            return self.open
        self._opened()
        return True

    def _opened(self) -> None:
        closed, self.closed = self.closed, None
        self.metrics.storage_ok.set(1)
        if closed is None:
            return
        log.info(
            "storage.available",
            bucket=self.storage.bucket,
            unavailable_for_s=round(self._clock() - closed.since, 3),
            checks=closed.checks,
        )
        self.on_open()

    def delay(self) -> float:
        """How long until the next check of a closed bucket: a backoff over the failed
        checks, from ``retry.base_delay_s`` up to ``MAX_RECHECK_S``, half of it jittered."""
        retry = self._settings().retry
        policy = RetryPolicy(
            base_delay_s=retry.base_delay_s, max_delay_s=min(retry.max_delay_s, MAX_RECHECK_S)
        )
        checks = self.closed.checks if self.closed is not None else 1
        return backoff_delay(max(1, checks), policy, 0.5 + self._rng.random() / 2)

    async def _wait(self, stop: asyncio.Event, delay: float | None) -> None:
        """Until asked to check, ``stop`` is set, or ``delay`` seconds have passed."""
        waits = {asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())}
        try:
            await asyncio.wait(waits, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
            await asyncio.gather(*waits, return_exceptions=True)

    async def run(self, stop: asyncio.Event) -> None:
        """Check whenever asked (a reload, the bucket just closed) and, while it is
        closed, again after each delay, until ``stop`` is set."""
        while not stop.is_set():
            await self._wait(stop, None if self.closed is None else self.delay())
            self._wake.clear()
            if stop.is_set():
                return
            try:
                await self.check()
            except Exception as exc:
                # A bug here must not stop the re-checks: the next one may succeed.
                log.error("storage.check_error", error=str(exc), exc_info=True)
