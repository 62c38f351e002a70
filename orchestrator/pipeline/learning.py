"""What the pipeline learns of the service's speed, kept per (API, model) in the store.

Each finished operation is an observation. It is merged into the stored state of its key
in one store transaction (not written over it), so daemons sharing a store learn together
and a restart starts from what was learned. When the estimate drops, the first checks
still to come are brought forward; they are never delayed (see ``reschedule``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import math
from collections.abc import Callable

from orchestrator.core import polling
from orchestrator.core.jobs import Job, Stage, State
from orchestrator.pipeline.context import Context
from orchestrator.pipeline.transitions import bring_forward
from orchestrator.pipeline.work import InFlight
from orchestrator.store.protocol import StateStore
from orchestrator.telemetry.logs import get_logger

log = get_logger()

KEY_PREFIX = "polling.estimator/"
# Before the estimator was kept per key it was one snapshot under this key.
LEGACY_KEY = "polling.estimator"
# Re-time pending first checks when the estimate drops by more than this (log ratio, ~10%).
RESCHEDULE_AT_CHANGE = 0.1
# The first check of a job of this many audio seconds, and per audio second of a long
# one, stand for every job's: an estimate linear in the audio drops most at one of them.
SHORTEST_AUDIO_S = 1.0
LONGEST_AUDIO_S = 4 * 3600.0
# On a shared store, what the other daemons learned is read back this many shortest check
# intervals apart (5 s at the service's pace), and at least this often.
FOLLOW_EVERY_INTERVALS = 5.0
FOLLOW_AT_MOST_S = 5.0

Observation = Callable[[polling.CompletionEstimator, polling.EstimatorKey], None]


def store_key(key: polling.EstimatorKey) -> str:
    """Where one key's state is stored."""
    return f"{KEY_PREFIX}{key[0]}/{key[1]}"


def estimator_key(job: Job) -> polling.EstimatorKey:
    """The key a job's processing time is learned under: its API and model."""
    return (job.settings.api, job.settings.model)


async def stored_keys(store: StateStore) -> dict[polling.EstimatorKey, str]:
    """Each key's stored state, as stored (JSON)."""
    found: dict[polling.EstimatorKey, str] = {}
    for name, value in (await store.kv_prefix(KEY_PREFIX)).items():
        api, _, model = name.removeprefix(KEY_PREFIX).partition("/")
        found[(api, model)] = value
    return found


async def load_estimator(
    store: StateStore,
    quantile: float,
    initial_ratio: float,
    taken: dict[polling.EstimatorKey, str] | None = None,
) -> polling.CompletionEstimator:
    """What the daemons learned, as stored (for the pipeline, and for the ETA of
    ``submit --wait`` and ``status --watch``); each key's state loaded goes into
    ``taken``, when given."""
    estimator = polling.CompletionEstimator(quantile=quantile, initial_ratio=initial_ratio)
    legacy = await store.kv_get(LEGACY_KEY)
    if legacy:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            estimator = polling.CompletionEstimator.from_dict(
                json.loads(legacy), quantile=quantile, initial_ratio=initial_ratio
            )
    for key, value in (await stored_keys(store)).items():
        with contextlib.suppress(ValueError, TypeError):
            estimator.load_key_state(key, json.loads(value))
            if taken is not None:
                taken[key] = value
    return estimator


class Learning:
    """The completion-time estimator, its persistence and the re-timing it triggers."""

    def __init__(self, ctx: Context, work: InFlight) -> None:
        self.ctx = ctx
        self.working = work.working  # jobs with a step in flight: not re-timed under them
        self.track = work.track
        self.estimator = self._fresh()
        self._retiming: asyncio.Task[None] | None = None
        # Each key's stored state as this daemon last took it (see ``follow``).
        self._taken: dict[polling.EstimatorKey, str] = {}

    def _fresh(self) -> polling.CompletionEstimator:
        settings = self.ctx.settings
        return polling.CompletionEstimator(
            quantile=settings.polling.quantile, initial_ratio=settings.initial_ratio
        )

    async def load(self) -> None:
        """Restore what was learned before a restart."""
        settings = self.ctx.settings
        self._taken.clear()
        self.estimator = await load_estimator(
            self.ctx.store, settings.polling.quantile, settings.initial_ratio, self._taken
        )

    def follow_every_s(self) -> float:
        """How often :meth:`follow` reads back what the other daemons learned."""
        interval = self.ctx.settings.polling.min_interval_s
        return min(FOLLOW_AT_MOST_S, FOLLOW_EVERY_INTERVALS * interval)

    async def follow(self) -> int:
        """Take what other daemons sharing the store learned since: each key's stored
        state (every daemon's observations merged into it) replaces ours, and pending
        first checks come forward when the estimate dropped. How many keys changed.

        Without it a daemon plans its checks from its own observations only until it
        makes one (its first jobs all at the first guess), while the others know better.
        """
        changed = 0
        for key, value in (await stored_keys(self.ctx.store)).items():
            if self._taken.get(key) == value:
                continue
            before = self._first_checks(key)
            with contextlib.suppress(ValueError, TypeError, KeyError):
                self.estimator.load_key_state(key, json.loads(value))
                self._taken[key] = value
                changed += 1
                self._learned(key, before)
        return changed

    def apply_settings(self) -> None:
        """Take the quantile and first guess of new settings, keeping what was learned."""
        settings = self.ctx.settings
        self.estimator = polling.CompletionEstimator.from_dict(
            self.estimator.to_dict(),
            quantile=settings.polling.quantile,
            initial_ratio=settings.initial_ratio,
        )

    # -- when to check ---------------------------------------------------------------------

    def budget(self, job: Job) -> float | None:
        """The checks per job the job's schedule is planned for."""
        return self._budget(estimator_key(job))

    def _budget(self, key: polling.EstimatorKey) -> float | None:
        client = self.ctx.clients.get(key[0])
        if client is None:
            return None
        profile = client.profile
        if profile.status_quota is None:
            return None  # a synchronous API: nothing to check
        return self.ctx.settings.check_budget(profile.status_quota, profile.submit_quota)

    def _first_checks(self, key: polling.EstimatorKey) -> tuple[float, float]:
        """Where the first check of a short and of a long job goes, per audio second."""
        budget = self._budget(key)
        return (
            polling.first_check_s(SHORTEST_AUDIO_S, self.estimator, key, budget) / SHORTEST_AUDIO_S,
            polling.first_check_s(LONGEST_AUDIO_S, self.estimator, key, budget) / LONGEST_AUDIO_S,
        )

    def first_check_at(self, job: Job, submitted_at: float) -> float:
        """The first status check of a job just submitted: the first of its schedule."""
        audio_s = job.audio.audio_seconds_all_channels if job.audio else 0.0
        if audio_s <= 0:
            # Unknown duration (an object already in storage): start at the short interval.
            return submitted_at + self.ctx.settings.polling.min_interval_s
        return polling.first_poll_at(
            submitted_at, audio_s, self.estimator, estimator_key(job), self.budget(job)
        )

    def next_check_at(self, job: Job, now: float, polls: int) -> float:
        """The next status check after ``polls`` found the job running."""
        audio_s = job.audio.audio_seconds_all_channels if job.audio else 0.0
        return polling.next_poll_at(
            job.submitted_at or now,
            now,
            polls,
            audio_s,
            self.estimator,
            estimator_key(job),
            self.ctx.settings.polling,
            self.budget(job),
        )

    # -- learning --------------------------------------------------------------------------

    async def observe(self, job: Job, processing_s: float | None, now: float) -> None:
        """A job was found done ``now``: learn from it. ``processing_s`` is the service's
        own measure (its timestamps, to their resolution), else the check times bound it."""
        audio_s = job.audio.audio_seconds_all_channels if job.audio else 0.0
        if audio_s <= 0:
            return
        key = estimator_key(job)
        submitted = job.submitted_at or now

        def observation(est: polling.CompletionEstimator, key: polling.EstimatorKey) -> None:
            if processing_s is not None:
                # Whole-second timestamps: an interval, narrowed by our own checks.
                checked = job.last_poll_at
                estimate = polling.processing_estimate(
                    processing_s,
                    self.ctx.settings.timestamp_resolution_s,
                    not_done_after_s=None if checked is None else checked - submitted,
                    done_by_s=now - submitted,
                )
                est.observe_exact(key, audio_s=audio_s, processing_s=estimate)
            else:
                est.observe(
                    key,
                    submitted_at=submitted,
                    audio_s=audio_s,
                    last_not_done_at=job.last_poll_at,
                    done_at=now,
                )

        before = self._first_checks(key)
        await self._merge(key, observation)
        self._learned(key, before)

    async def _merge(self, key: polling.EstimatorKey, observation: Observation) -> None:
        """Apply ``observation`` to the stored state of ``key`` (as another daemon may have
        left it) in one transaction, and take the result as ours."""

        def change(stored: str | None) -> str:
            est = self._fresh()
            current = self.estimator.key_state(key)
            if stored is not None:
                with contextlib.suppress(ValueError, TypeError):
                    current = json.loads(stored)
            if current is not None:
                est.load_key_state(key, current)
            observation(est, key)
            return json.dumps(est.key_state(key))

        merged = await self.ctx.store.kv_update(store_key(key), change)
        self.estimator.load_key_state(key, json.loads(merged))
        self._taken[key] = merged

    def _learned(self, key: polling.EstimatorKey, before: tuple[float, float]) -> None:
        """The first check for ``key`` moved earlier: bring the first checks still to come
        forward (one re-timing at a time; a further drop while it runs is caught by the
        next)."""
        after = self._first_checks(key)
        drop = max(math.log(b / a) for b, a in zip(before, after, strict=True))
        if drop < RESCHEDULE_AT_CHANGE or self._retiming is not None:
            return

        async def retime() -> None:
            try:
                await self.reschedule(key)
            finally:
                self._retiming = None

        # A context of its own: the step that learned binds its job's log fields, which
        # the re-timing of every job must not carry.
        self._retiming = asyncio.get_running_loop().create_task(
            retime(), context=contextvars.Context()
        )
        self.track(self._retiming)

    async def reschedule(self, key: polling.EstimatorKey | None = None) -> int:
        """Bring forward the first check of running jobs not yet checked (of ``key``, or
        all) to the current estimate: it may have learned, or the config changed, since
        they were submitted. Never delays a check: a late check costs lag, which a wrong
        estimate (queueing on the service's side inflates it) must not make unbounded.
        Returns how many moved.
        """
        moved = 0
        store, now = self.ctx.store, self.ctx.clock()
        for job in await store.jobs_in([State.RUNNING]):
            if job.polls or job.submitted_at is None or job.audio is None:
                continue
            audio_s = job.audio.audio_seconds_all_channels
            if audio_s <= 0 or job.id in self.working or key not in (None, estimator_key(job)):
                continue
            when = max(now, self.first_check_at(job, job.submitted_at))
            if when < job.next_action_at and await bring_forward(store, job.id, when, now):
                moved += 1
        if moved:
            log.info("polling.rescheduled", jobs=moved)
            self.ctx.kick(Stage.POLL)
        return moved
