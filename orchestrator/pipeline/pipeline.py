"""The stages (prepare+upload, submit, poll, fetch+write) and their scheduling, in one loop.

Each stage takes the jobs whose ``next_action_at`` has come, does one step and records the
outcome in the store before anything else happens to the job. Nothing in memory is the
only copy of a fact: killed at any moment, a restart continues from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import json
import math
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from orchestrator.core import polling, quota
from orchestrator.core.audio import AudioFacts, encoding_of_key, object_suffix
from orchestrator.core.backoff import RetryPolicy, retry_at, should_give_up
from orchestrator.core.billing import billable_seconds
from orchestrator.core.constants import PROCESSING_S_PER_AUDIO_S
from orchestrator.core.jobs import (
    FETCH_STATES,
    POLL_STATES,
    SUBMIT_STATES,
    TERMINAL,
    UPLOAD_STATES,
    Job,
    State,
    check_transition,
)
from orchestrator.intake import audio
from orchestrator.outputs import write as results
from orchestrator.pipeline.ledger import AUDIO_QUOTA, STATUS_QUOTA, SUBMIT_QUOTA, QuotaLedger
from orchestrator.pipeline.requests import object_ref, submit_request
from orchestrator.speechkit.base import OperationStatus, RecognitionClient
from orchestrator.speechkit.errors import ErrorKind, SpeechKitError
from orchestrator.storage.s3 import ObjectStorage, StorageError
from orchestrator.store.base import Claim, DuplicateRecognition, Spend, Store
from orchestrator.telemetry.logs import get_logger
from orchestrator.telemetry.metrics import DaemonMetrics

log = get_logger()

MAINTAIN_EVERY_S = 60.0
ESTIMATOR_KEY = "polling.estimator"
# A lease only matters when several daemons share a store; one daemon clears them at start.
LEASE_S = 3600.0
# How long an idle stage sleeps at most before looking at the store again (new work
# normally wakes it at once; this bounds the cost of a missed wake-up).
IDLE_S = 30.0
# A follower is woken by its leader's end; this only bounds a lost wake-up.
WAIT_FOR_LEADER_S = 3600.0
# Re-time pending first checks when the estimate drops by more than this (log ratio, ~10%).
RESCHEDULE_AT_CHANGE = 0.1


class Stage(enum.StrEnum):
    """The pipeline's stages, each a coroutine taking jobs in its own states."""

    UPLOAD = "upload"
    SUBMIT = "submit"
    POLL = "poll"
    FETCH = "fetch"


_STAGE_STATES = {
    Stage.UPLOAD: UPLOAD_STATES,
    Stage.SUBMIT: SUBMIT_STATES,
    Stage.POLL: POLL_STATES,
    Stage.FETCH: FETCH_STATES,
}
# A refused credential (401) is usually fixed by the operator within minutes: retried with
# backoff like a 5xx, so a bad key does not fail a whole batch at once.
_RETRY_KINDS = frozenset({ErrorKind.RETRYABLE, ErrorKind.AUTH})
_DOING = frozenset({State.UPLOADING, State.SUBMITTING})
_STATE_STAGE = {state: stage for stage, states in _STAGE_STATES.items() for state in states}


@dataclass
class PipelineSettings:
    """The parts of the configuration the stages use (replaced whole on reload)."""

    output_root: Path
    key_prefix: str = ""
    delete_after_done: bool = False
    submit_quota: quota.QuotaSpec = field(
        default_factory=lambda: quota.QuotaSpec(limit=500, window_s=3600.0)
    )
    status_quota: quota.QuotaSpec = field(
        default_factory=lambda: quota.QuotaSpec(limit=2500, window_s=3600.0)
    )
    # Billable audio seconds per day (SpeechKit: 10,000 hours).
    audio_quota: quota.QuotaSpec = field(
        default_factory=lambda: quota.QuotaSpec(limit=10_000 * 3600, window_s=86400.0)
    )
    uploads: int = 4
    operations_in_flight: int = 200
    fetches: int = 4
    http_concurrency: int = 32
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    polling: polling.PollingPolicy = field(default_factory=polling.PollingPolicy)
    initial_ratio: float = PROCESSING_S_PER_AUDIO_S  # first guess, before any job finished


class Pipeline:
    """Runs the four stages over the store until asked to stop."""

    def __init__(
        self,
        store: Store,
        storage: ObjectStorage,
        clients: Mapping[str, RecognitionClient],
        settings: PipelineSettings,
        *,
        metrics: DaemonMetrics | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        owner: str | None = None,
        on_job_ended: Callable[[Job], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.storage = storage
        self.clients = clients
        self.settings = settings
        self.metrics = metrics if metrics is not None else DaemonMetrics()
        self.clock = clock
        self.rng = rng if rng is not None else random.Random()
        self.owner = owner or f"{os.uname().nodename}:{os.getpid()}"
        self.on_job_ended = on_job_ended
        self.ledger = QuotaLedger(store, self.metrics, clock)
        self.estimator = polling.CompletionEstimator(
            quantile=settings.polling.quantile, initial_ratio=settings.initial_ratio
        )
        self._wake = {stage: asyncio.Event() for stage in Stage}
        self._draining = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._busy: dict[Stage, int] = dict.fromkeys(Stage, 0)
        self._working: set[int] = set()  # job ids with a step in flight in this process
        self._failure_class: dict[int, str] = {}
        self._retiming: asyncio.Task[None] | None = None
        self._key_locks: dict[str, tuple[asyncio.Lock, int]] = {}  # a lock and its users
        self._http = asyncio.Semaphore(settings.http_concurrency)
        # Quotas holding each stage's claims back, and until when (logged once per hold).
        self._held: dict[Stage, Mapping[str, float]] = {}

    # -- life cycle ----------------------------------------------------------------------

    async def load_state(self) -> None:
        """Restore what the pipeline learned before a restart (the completion estimator)."""
        saved = await self.store.kv_get(ESTIMATOR_KEY)
        if saved:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                self.estimator = polling.CompletionEstimator.from_dict(
                    json.loads(saved),
                    quantile=self.settings.polling.quantile,
                    initial_ratio=self.settings.initial_ratio,
                )

    async def reschedule_first_polls(self, key: polling.EstimatorKey | None = None) -> int:
        """Bring forward the first check of running jobs not yet checked (of ``key``, or
        all) to the current estimate: it may have learned, or the config changed, since
        they were submitted. Never delays a check: a late check costs lag, which a wrong
        estimate (queueing on the service's side inflates it) must not make unbounded.
        Returns how many moved.
        """
        moved = 0
        now = self.clock()
        for job in await self.store.jobs_in([State.RUNNING]):
            if job.polls or job.submitted_at is None or job.audio is None:
                continue
            job_key = self._estimator_key(job)
            audio_s = job.audio.audio_seconds_all_channels
            if audio_s <= 0 or job.id in self._working or key not in (None, job_key):
                continue
            when = max(
                now, polling.first_poll_at(job.submitted_at, audio_s, self.estimator, job_key)
            )
            if when < job.next_action_at and await self.store.update_job(
                job.id, State.RUNNING, {"next_action_at": when}, now
            ):
                moved += 1
        if moved:
            log.info("polling.rescheduled", jobs=moved)
            self.kick(Stage.POLL)
        return moved

    def _learned(self, key: polling.EstimatorKey, before: float) -> None:
        """The estimate for ``key`` went down: bring the first checks still to come forward
        (one re-timing at a time; a further drop while it runs is caught by the next)."""
        after = self.estimator.ratio(key)
        if math.log(before / after) < RESCHEDULE_AT_CHANGE or self._retiming is not None:
            return

        async def retime() -> None:
            try:
                await self.reschedule_first_polls(key)
            finally:
                self._retiming = None

        self._retiming = asyncio.get_running_loop().create_task(retime())
        self._tasks.add(self._retiming)
        self._retiming.add_done_callback(self._tasks.discard)

    def kick(self, stage: Stage | None = None) -> None:
        """Wake one stage (or all) to look for due work now."""
        for name in [stage] if stage else list(Stage):
            self._wake[name].set()

    def apply(self, settings: PipelineSettings) -> None:
        """Take new settings (on reload); running work finishes under the old ones."""
        self.settings = settings
        self._http = asyncio.Semaphore(settings.http_concurrency)
        self.estimator = polling.CompletionEstimator.from_dict(
            self.estimator.to_dict(),
            quantile=settings.polling.quantile,
            initial_ratio=settings.initial_ratio,
        )

        async def reschedule() -> None:
            await self.reschedule_first_polls()

        task = asyncio.get_running_loop().create_task(reschedule())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.kick()

    async def run(self, stop: asyncio.Event) -> None:
        """Run every stage until ``stop`` is set, then wait for the steps in flight."""
        loops = [
            asyncio.create_task(self._stage_loop(stage, stop), name=f"stage-{stage}")
            for stage in Stage
        ]
        loops.append(asyncio.create_task(self._maintain(stop), name="maintenance"))
        try:
            await stop.wait()
        finally:
            self._draining = True
            self.kick()
            await asyncio.gather(*loops, return_exceptions=True)
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    async def abort(self) -> None:
        """Cancel the steps still in flight; the store keeps each job where it was."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def in_flight(self) -> int:
        """Steps being worked on right now."""
        return len(self._tasks)

    # -- scheduling ----------------------------------------------------------------------

    async def _stage_loop(self, stage: Stage, stop: asyncio.Event) -> None:
        while not stop.is_set() and not self._draining:
            self._wake[stage].clear()
            try:
                wake_at = await self._dispatch(stage)
            except Exception as exc:
                # The store is the only state; a failed dispatch is retried after a pause.
                log.error("stage.error", stage=stage.value, error=str(exc), exc_info=True)
                wake_at = self.clock() + 5.0
            timeout = max(0.0, min(wake_at - self.clock(), IDLE_S))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake[stage].wait(), timeout=timeout)

    async def _maintain(self, stop: asyncio.Event) -> None:
        """Forget quota ledger entries that no window can count any more."""
        while not stop.is_set() and not self._draining:
            try:
                await self.ledger.prune(
                    {
                        SUBMIT_QUOTA: self.settings.submit_quota,
                        STATUS_QUOTA: self.settings.status_quota,
                        AUDIO_QUOTA: self.settings.audio_quota,
                    }
                )
            except Exception as exc:
                log.error("maintenance.error", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=MAINTAIN_EVERY_S)

    def _billable(self, job: Job) -> float:
        """The job's billable audio seconds for the daily quota; 0 when its duration is
        unknown (an object already in storage): not counted."""
        facts = job.audio
        if facts is None or facts.duration_s <= 0:
            return 0.0
        return billable_seconds(facts.duration_s, facts.channels)

    def _slots(self, stage: Stage) -> int:
        limit = {
            Stage.UPLOAD: self.settings.uploads,
            Stage.FETCH: self.settings.fetches,
            Stage.SUBMIT: self.settings.http_concurrency,
            Stage.POLL: self.settings.http_concurrency,
        }[stage]
        return max(0, limit - self._busy[stage])

    def _claim(self, stage: Stage, slots: int) -> Claim:
        """What the stage asks of the store: due jobs, and the quota their requests spend."""
        states = _STAGE_STATES[stage]
        settings = self.settings
        if stage is Stage.SUBMIT:
            # Granted, spent and moved to `submitting` in one transaction, right before the
            # requests go out: the ledger's times are the requests' times.
            return Claim(
                states,
                slots,
                LEASE_S,
                spends=(
                    Spend(SUBMIT_QUOTA, settings.submit_quota),
                    Spend(AUDIO_QUOTA, settings.audio_quota, amount=self._billable),
                ),
                enter=State.SUBMITTING,
                count="submissions",
            )
        if stage is Stage.POLL:
            return Claim(
                states, slots, LEASE_S, spends=(Spend(STATUS_QUOTA, settings.status_quota),)
            )
        return Claim(states, slots, LEASE_S)

    async def _dispatch(self, stage: Stage) -> float:
        """Start the stage's due steps; return when it should look again."""
        now = self.clock()
        slots = self._slots(stage)
        if stage is Stage.SUBMIT:
            # Jobs being submitted are counted twice here at worst: the cap errs low.
            in_flight = await self.store.count([State.SUBMITTING, State.RUNNING])
            room = self.settings.operations_in_flight - in_flight - self._busy[stage]
            slots = max(0, min(slots, room))
        claimed = await self.store.claim(self._claim(stage, slots), self.owner, now)
        for name, (used, left) in claimed.usage.items():
            self.metrics.set_quota(name, used, left)
        self._report_held(stage, claimed.held, now)
        for job in claimed.jobs:
            if job.id in self._working:
                # Its step is finishing (the store already has its outcome): let the lease
                # go, or the job would wait for the lease to run out.
                await self.store.update_job(job.id, None, {}, now)
            else:
                self._start(stage, job, entered=job.id in claimed.entered)
        next_due = await self.store.next_due(_STAGE_STATES[stage], now)
        wake_at = now + IDLE_S if next_due is None else next_due
        if claimed.wake_at is not None:
            wake_at = max(wake_at, claimed.wake_at)
        return wake_at

    def _report_held(self, stage: Stage, held: Mapping[str, float], now: float) -> None:
        """Log each quota that starts holding the stage's claims back (once, until it lets
        them through again). The daily audio quota is worth a warning; a full request quota
        is the normal state of a backlog."""
        before = self._held.get(stage, {})
        for name, until in held.items():
            if name not in before:
                emit = log.warning if name == AUDIO_QUOTA else log.info
                emit(
                    "quota.paused" if name == AUDIO_QUOTA else "quota.full",
                    quota=name,
                    until=until,
                    paused_for_s=round(until - now, 3),
                )
        self._held[stage] = held

    def _start(self, stage: Stage, job: Job, *, entered: bool = False) -> None:
        step: Callable[[Job], Awaitable[None]] = {
            Stage.UPLOAD: self._upload,
            Stage.SUBMIT: lambda claimed: self._submit(claimed, entered=entered),
            Stage.POLL: self._poll,
            Stage.FETCH: self._fetch,
        }[stage]
        self._working.add(job.id)
        self._busy[stage] += 1

        async def run() -> None:
            try:
                await step(job)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # A bug or an unexpected failure: the job is retried, never lost.
                log.error(
                    "job.step_error",
                    stage=stage.value,
                    manifest=job.manifest_name,
                    job_id=job.id,
                    error=str(exc),
                    exc_info=True,
                )
                current = await self.store.get_job(job.id)  # the step may have moved it
                if current is not None and current.state not in TERMINAL:
                    await self._retry(current, current.state, f"internal error: {exc}", None)
            finally:
                self._working.discard(job.id)
                self._busy[stage] -= 1
                self._wake[stage].set()

        task = asyncio.create_task(run(), name=f"{stage}-{job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- transitions ---------------------------------------------------------------------

    async def _move(
        self, job: Job, new: State, began: float | None = None, **fields: Any
    ) -> Job | None:
        """Record one transition in one row update and log it.

        Returns the job as it now is, or None when it had moved on (cancelled, say).
        """
        check_transition(job.state, new)
        now = self.clock()
        fields.setdefault("next_action_at", now)
        if new in TERMINAL:
            fields.setdefault("finished_at", now)
        # A step that succeeded starts the next one with no failed attempts; entering the
        # "doing" state of a step keeps the count, or a step failing over and over would
        # never be given up.
        if new != job.state and new not in _DOING:
            fields.setdefault("attempts", 0)
        # Entering a "doing" state, the step goes on: keep the lease so no stage takes it again.
        applied = await self.store.update_job(
            job.id, job.state, {"state": new, **fields}, now, keep_lease=new in _DOING
        )
        if not applied:
            log.info(
                "job.superseded", manifest=job.manifest_name, job_id=job.id, state=job.state.value
            )
            return None
        if new != job.state:
            self._log_transition(
                job,
                job.state,
                new,
                began if began is not None else job.updated_at,
                operation_id=fields.get("operation_id", job.operation_id),
                now=now,
            )
        stage = _STATE_STAGE.get(new)
        if stage is not None and new not in _DOING:
            self.kick(stage)
        if new in TERMINAL:
            await self._ended(job, new, fields)
        return dataclasses.replace(job, state=new, updated_at=now, **fields)

    def _log_transition(
        self,
        job: Job,
        old: State,
        new: State,
        began: float,
        *,
        operation_id: str | None = None,
        now: float | None = None,
    ) -> None:
        log.info(
            "job.state",
            manifest=job.manifest_name,
            job_id=job.id,
            operation_id=operation_id or job.operation_id,
            source=job.source,
            **{"from": old.value, "to": new.value},
            took_s=round((self.clock() if now is None else now) - began, 3),
        )

    async def _ended(self, job: Job, state: State, fields: Mapping[str, Any]) -> None:
        if state is State.FAILED:
            reason_class = self._failure_class.pop(job.id, "permanent")
            log.warning(
                "job.failed",
                manifest=job.manifest_name,
                job_id=job.id,
                operation_id=job.operation_id,
                source=job.source,
                reason=fields.get("error"),
                reason_class=reason_class,
                retryable=reason_class == "retries_exhausted",
                attempts=job.attempts + 1,
            )
            self.metrics.jobs_failed.inc(reason=reason_class)
            # Jobs waiting on this one try again themselves.
            await self.store.release_followers(job.id, State.QUEUED, self.clock())
            self.kick(Stage.UPLOAD)
        elif state is State.DONE and await self.store.release_followers(
            job.id, State.FETCHING, self.clock()
        ):
            self.kick(Stage.FETCH)
        if self.on_job_ended is not None:
            await self.on_job_ended(job)

    async def _fail(
        self, job: Job, reason: str, began: float | None = None, *, reason_class: str = "permanent"
    ) -> None:
        self._failure_class[job.id] = reason_class
        await self._move(job, State.FAILED, began, error=reason)

    async def _retry(
        self, job: Job, back_to: State, reason: str, retry_after: float | None
    ) -> None:
        """Retry the step later with backoff, or fail the job after the last attempt."""
        attempts = job.attempts + 1
        if should_give_up(attempts, self.settings.retry):
            await self._fail(
                job,
                f"gave up after {attempts} attempts: {reason}",
                reason_class="retries_exhausted",
            )
            return
        when = retry_at(self.clock(), attempts, self.settings.retry, self.rng.random(), retry_after)
        log.warning(
            "job.retry",
            manifest=job.manifest_name,
            job_id=job.id,
            operation_id=job.operation_id,
            attempt=attempts,
            retry_in_s=round(when - self.clock(), 3),
            reason=reason,
        )
        check_transition(job.state, back_to)
        await self.store.update_job(
            job.id,
            job.state,
            {"state": back_to, "attempts": attempts, "next_action_at": when, "error": reason},
            self.clock(),
        )

    async def _throttled(self, job: Job, name: str, exc: SpeechKitError, back_to: State) -> None:
        """A 429: pause the whole quota, put the job back without spending an attempt."""
        fallback = retry_at(0.0, job.attempts + 1, self.settings.retry, self.rng.random(), None)
        until = await self.ledger.pause(name, exc.retry_after, max(1.0, fallback))
        now = self.clock()
        log.warning(
            "quota.throttled",
            quota=name,
            manifest=job.manifest_name,
            job_id=job.id,
            retry_after_s=exc.retry_after,
        )
        log.warning("quota.paused", quota=name, until=until, paused_for_s=round(until - now, 3))
        await self.store.update_job(
            job.id, job.state, {"state": back_to, "next_action_at": until}, now
        )

    # -- stage: prepare and upload -------------------------------------------------------

    async def _upload(self, job: Job) -> None:
        began = self.clock()
        if not job.is_local:
            await self._prepare_remote(job, began)
            return
        facts, content_hash = job.audio, job.content_hash
        if facts is None or content_hash is None:
            settings = job.settings
            try:
                facts = await asyncio.to_thread(
                    audio.probe,
                    Path(job.source),
                    encoding=settings.encoding,
                    sample_rate=settings.sample_rate,
                    channels=settings.channels,
                )
                content_hash = await asyncio.to_thread(audio.content_hash, Path(job.source), facts)
            except audio.AudioError as exc:
                await self._fail(job, str(exc), began, reason_class="audio")
                return
            except OSError as exc:
                reason = f"{job.source}: cannot read: {exc.strerror or exc}"
                await self._fail(job, reason, began, reason_class="audio")
                return
        key = self.storage.object_key(
            self.settings.key_prefix, content_hash, object_suffix(facts.encoding)
        )
        if job.state is State.QUEUED:
            moved = await self._lead_or_follow(
                job, State.UPLOADING, began, content_hash=content_hash, audio=facts, object_key=key
            )
            if moved is None:
                return
            job = moved
        try:
            # Jobs with the same audio (other settings) share the object: one uploads it.
            async with self._key_lock(key):
                uploaded = await self.storage.ensure_uploaded(
                    key,
                    facts.data_length,
                    content_hash,
                    partial(
                        audio.read_range, Path(job.source), facts.data_offset, facts.data_length
                    ),
                )
        except StorageError as exc:
            if exc.retryable:
                await self._retry(job, State.UPLOADING, str(exc), None)
            else:
                await self._fail(job, str(exc), began, reason_class="storage")
            return
        except audio.AudioError as exc:
            # The file changed or went away since it was probed.
            await self._fail(job, str(exc), began, reason_class="audio")
            return
        if uploaded:
            self.metrics.uploaded_bytes.inc(facts.data_length)
            log.info(
                "upload.done",
                manifest=job.manifest_name,
                job_id=job.id,
                object_key=key,
                bytes=facts.data_length,
            )
        else:
            log.info("upload.skipped", manifest=job.manifest_name, job_id=job.id, object_key=key)
        await self._move(job, State.UPLOADED, began, object_key=key)

    async def _lead_or_follow(
        self, job: Job, lead: State, began: float, *, content_hash: str, **fields: Any
    ) -> Job | None:
        """Recognise this content, or reuse (or wait for) another job's recognition of it.

        Returns the job moved to ``lead`` when it is the one to do the work, else None. The
        store enforces one leader per (content, settings), so two jobs racing here cannot
        both submit the same audio.
        """
        facts = fields.get("audio")
        for _ in range(3):
            if await self.store.get_result(content_hash, job.settings_key) is not None:
                await self._move(job, State.FETCHING, began, content_hash=content_hash, audio=facts)
                return None
            leader = await self.store.find_leader(job, content_hash)
            if leader is not None:
                await self._move(
                    job,
                    State.WAITING,
                    began,
                    content_hash=content_hash,
                    audio=facts,
                    leader_id=leader.id,
                    next_action_at=self.clock() + WAIT_FOR_LEADER_S,
                )
                return None
            try:
                return await self._move(job, lead, began, content_hash=content_hash, **fields)
            except DuplicateRecognition:
                continue  # another job became the leader meanwhile: follow it
        await self._retry(job, job.state, "could not settle which job recognises this audio", None)
        return None

    @contextlib.asynccontextmanager
    async def _key_lock(self, key: str) -> AsyncIterator[None]:
        lock, users = self._key_locks.get(key, (asyncio.Lock(), 0))
        self._key_locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._key_locks[key]
            if users == 1:
                del self._key_locks[key]
            else:
                self._key_locks[key] = (lock, users - 1)

    async def _prepare_remote(self, job: Job, began: float) -> None:
        """An ``s3://bucket/key`` entry: already in storage, nothing to probe or upload."""
        bucket, _, key = job.source.removeprefix("s3://").partition("/")
        encoding = job.settings.encoding or encoding_of_key(key)
        if encoding is None:
            await self._fail(
                job,
                f"{job.source}: cannot tell the audio encoding from the key; declare `encoding` "
                "(OGG_OPUS, MP3 or LINEAR16_PCM) in the manifest",
                began,
            )
            return
        facts = AudioFacts(
            encoding=encoding,
            duration_s=0.0,  # unknown: polling starts from the policy's minimum
            channels=job.settings.channels or 1,
            sample_rate=job.settings.sample_rate or 0,
            data_offset=0,
            data_length=0,
            container="remote",
        )
        await self._lead_or_follow(
            job,
            State.UPLOADED,
            began,
            content_hash=f"s3:{bucket}/{key}",
            audio=facts,
            object_key=f"s3://{bucket}/{key}",
        )

    # -- stage: submit -------------------------------------------------------------------

    def _client(self, job: Job) -> RecognitionClient | None:
        return self.clients.get(job.settings.api)

    async def _submit(self, job: Job, *, entered: bool) -> None:
        """Send the submission of a job the claim moved to ``submitting`` (``entered``) or
        found there after a restart."""
        began = self.clock()
        client = self._client(job)
        if client is None:
            await self._fail(
                job,
                f"api {job.settings.api!r} is not handled by this version of the daemon "
                "yet (it handles: v2)",
                began,
            )
            return
        if not entered:
            log.warning(
                "job.resubmitting",
                manifest=job.manifest_name,
                job_id=job.id,
                reason="found in `submitting` after a restart: the earlier submission may "
                "have reached the service (at-least-once)",
            )
        else:
            self._log_transition(job, State.UPLOADED, State.SUBMITTING, began)
            spec = self.settings.audio_quota
            amount = self._billable(job)
            if amount > spec.effective_limit:
                await self._fail(
                    job,
                    f"{amount:.0f} billable audio seconds exceed the whole daily audio quota "
                    f"({spec.effective_limit} s): raise quotas.audio_hours_per_day",
                    reason_class="quota",
                )
                return
        try:
            async with self._http:
                uri = object_ref(job, self.storage.bucket).link(self.storage.public_url_base)
                operation_id = await client.submit(submit_request(job, uri))
            self.metrics.record_request("longRunningRecognize", 200)
        except SpeechKitError as exc:
            self.metrics.record_request("longRunningRecognize", exc.http_status or "error")
            if exc.kind is ErrorKind.QUOTA:
                await self._throttled(job, SUBMIT_QUOTA, exc, State.UPLOADED)
            elif exc.kind in _RETRY_KINDS:
                await self._retry(job, State.UPLOADED, str(exc), exc.retry_after)
            else:
                await self._fail(job, f"submission refused: {exc}", began)
            return
        now = self.clock()
        facts = job.audio
        audio_s = facts.audio_seconds_all_channels if facts else 0.0
        if audio_s > 0:
            first = polling.first_poll_at(now, audio_s, self.estimator, self._estimator_key(job))
        else:
            # Unknown duration (an object already in storage): start at the short interval.
            first = now + self.settings.polling.min_interval_s
        await self._move(
            job,
            State.RUNNING,
            began,
            operation_id=operation_id,
            submitted_at=now,
            polls=0,
            last_poll_at=None,
            next_action_at=first,
        )

    def _estimator_key(self, job: Job) -> polling.EstimatorKey:
        return (job.settings.api, job.settings.model)

    # -- stage: poll ---------------------------------------------------------------------

    async def _poll(self, job: Job) -> None:
        began = self.clock()
        client = self._client(job)
        if client is None or job.operation_id is None:
            await self._fail(job, "running without an operation id or a client", began)
            return
        try:
            async with self._http:
                status = await client.get_operation(job.operation_id)
            self.metrics.record_request("operations", 200)
        except SpeechKitError as exc:
            self.metrics.record_request("operations", exc.http_status or "error")
            await self._poll_failed(job, exc, began)
            return
        now = self.clock()
        polls = job.polls + 1
        audio_s = job.audio.audio_seconds_all_channels if job.audio else 0.0
        key = self._estimator_key(job)
        if not status.done:
            when = polling.next_poll_at(
                job.submitted_at or now,
                now,
                polls,
                audio_s,
                self.estimator,
                key,
                self.settings.polling,
            )
            await self.store.update_job(
                job.id,
                State.RUNNING,
                {"polls": polls, "last_poll_at": now, "next_action_at": when, "attempts": 0},
                now,
            )
            return
        submitted = job.submitted_at or now
        processing = status.processing_s()
        if audio_s > 0:
            before = self.estimator.ratio(key)
            if processing is not None:
                self.estimator.observe_exact(key, audio_s=audio_s, processing_s=processing)
            else:
                self.estimator.observe(
                    key,
                    submitted_at=submitted,
                    audio_s=audio_s,
                    last_not_done_at=job.last_poll_at,
                    done_at=now,
                )
            await self.store.kv_set(ESTIMATOR_KEY, json.dumps(self.estimator.to_dict()))
            self._learned(key, before)
        # Lag: from the service finishing (its own timestamps) to this check seeing it; without
        # them, from the last "not done" check, an upper bound.
        finished_at = submitted + processing if processing is not None else job.last_poll_at
        self.metrics.status_check_lag.observe(max(0.0, now - (finished_at or submitted)))
        self.metrics.polls_per_job.observe(polls)
        failure = status.failure()
        if failure is not None:
            await self.store.update_job(
                job.id, State.RUNNING, {"polls": polls, "last_poll_at": now}, now, keep_lease=True
            )
            await self._fail(
                dataclasses.replace(job, polls=polls, last_poll_at=now),
                f"recognition failed: {failure.message}",
                began,
                reason_class="recognition",
            )
            return
        if job.content_hash is not None:
            await self.store.put_result(
                job.content_hash,
                job.settings_key,
                job.operation_id,
                {"operation": status.raw, "response": status.response},
                now,
            )
        await self._move(job, State.FETCHING, began, polls=polls, last_poll_at=now)

    async def _poll_failed(self, job: Job, exc: SpeechKitError, began: float) -> None:
        if exc.kind is ErrorKind.QUOTA:
            await self._throttled(job, STATUS_QUOTA, exc, State.RUNNING)
        elif exc.kind is ErrorKind.NOT_FOUND:
            self.metrics.operations_expired.inc()
            log.warning(
                "operation.expired",
                manifest=job.manifest_name,
                job_id=job.id,
                operation_id=job.operation_id,
                reason=exc.message,
            )
            if job.submissions >= self.settings.retry.max_attempts:
                await self._fail(job, f"operation {job.operation_id} not found: {exc}", began)
            else:
                # Results are gone (kept 3 days): recognise again from the stored object.
                await self._move(job, State.UPLOADED, began, operation_id=None)
        elif exc.kind in _RETRY_KINDS:
            await self._retry(job, State.RUNNING, str(exc), exc.retry_after)
        else:
            await self._fail(job, f"status check refused: {exc}", began)

    # -- stage: fetch and write ----------------------------------------------------------

    async def _fetch(self, job: Job) -> None:
        began = self.clock()
        client = self._client(job)
        if client is None:
            await self._fail(job, f"api {job.settings.api!r} is not handled", began)
            return
        cached = (
            await self.store.get_result(job.content_hash, job.settings_key)
            if job.content_hash
            else None
        )
        operation_id = cached[0] if cached else (job.operation_id or "")
        status = None
        if cached is not None:
            payload = cached[1]
            status = OperationStatus(
                id=operation_id,
                done=True,
                response=payload.get("response"),
                raw=payload.get("operation") or {},
            )
        try:
            async with self._http:
                transcript = await client.fetch_result(operation_id, status)
        except SpeechKitError as exc:
            if exc.kind is ErrorKind.QUOTA:
                await self._throttled(job, STATUS_QUOTA, exc, State.FETCHING)
            elif exc.kind is ErrorKind.NOT_FOUND:
                await self._poll_failed(job, exc, began)
            elif exc.retryable:
                await self._retry(job, State.FETCHING, str(exc), exc.retry_after)
            else:
                await self._fail(job, f"fetching the result failed: {exc}", began)
            return
        facts = job.audio
        channels = transcript.channels or (tuple(range(1, facts.channels + 1)) if facts else (1,))
        record = {
            "manifest": job.manifest_name,
            "job_id": job.id,
            "source": job.source,
            "operation_id": operation_id,
            "content_sha256": job.content_hash,
            "settings": job.settings.to_dict(),
            "audio": (
                {
                    "encoding": facts.encoding,
                    "duration_s": facts.duration_s,
                    "channels": facts.channels,
                    "sample_rate": facts.sample_rate,
                }
                if facts
                else None
            ),
        }
        try:
            written = await asyncio.to_thread(
                results.write_job_outputs,
                self.settings.output_root,
                job.manifest_name,
                job.output,
                transcript,
                channels,
                record,
            )
        except (OSError, ValueError) as exc:
            await self._retry(job, State.FETCHING, f"writing the results failed: {exc}", None)
            return
        if (
            self.settings.delete_after_done
            and job.object_key
            and not job.object_key.startswith("s3://")
            and not await self.store.object_in_use(job.object_key, job.id)
        ):
            try:
                await self.storage.delete(job.object_key)
            except StorageError as exc:
                log.warning(
                    "object.delete_failed", job_id=job.id, object_key=job.object_key, error=str(exc)
                )
        if written:
            log.info(
                "job.written",
                manifest=job.manifest_name,
                job_id=job.id,
                operation_id=operation_id,
                files=[str(p) for p in written],
            )
        else:
            # Written before a restart cut the step short: not written again.
            log.info(
                "job.already_written",
                manifest=job.manifest_name,
                job_id=job.id,
                operation_id=operation_id,
            )
        await self._move(job, State.DONE, began, error=None)
