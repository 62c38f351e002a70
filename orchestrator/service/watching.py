"""A manifest's progress as ``submit --wait`` and ``status --watch`` show it: jobs by
state, throughput over the last minutes, and the time to finish from the quotas left now
and the processing times the daemons learned (``core.finish_time``, the formula ``plan``
uses too). Read from the store, beside a running daemon; nothing here writes.

The ETA is a lower bound in the spirit of ``plan``'s: the quota ledger says what is left
of each window now, the estimator (per API and model, kept in the store) how long each job
takes, and the jobs of active manifests that came in earlier are counted ahead of this
one's (the daemon takes due jobs earliest first).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.core.apis import ApiCatalogue
from orchestrator.core.finish_time import (
    TO_SUBMIT,
    Quotas,
    Window,
    finish_time,
    throughput,
    work_of,
)
from orchestrator.core.jobs import Job, ManifestStatus, State
from orchestrator.pipeline.learning import load_estimator
from orchestrator.pipeline.settings import PipelineSettings
from orchestrator.service.progress import latest_deliveries
from orchestrator.speechkit.catalogue import CATALOGUE
from orchestrator.store.protocol import Store

# Throughput is counted over this much of the recent past.
THROUGHPUT_WINDOW_S = 300.0
# Failures shown under a manifest: the latest few (the report has them all).
SHOWN_FAILURES = 5
# Every job of the manifests watched is read at most this often, and never more than a
# fifth of the time (the counts are read at every look).
JOBS_EVERY_S = 5.0
JOBS_COST_FACTOR = 4.0


@dataclass(frozen=True)
class Progress:
    """One manifest, as the watch shows it."""

    id: int
    name: str
    state: str  # "active" or "finished"
    total: int
    counts: dict[str, int]
    created_at: float
    finished_at: float | None
    report_path: str | None
    jobs_per_min: float | None = None
    eta_s: float | None = None
    failures: tuple[tuple[str, str], ...] = ()  # (source, reason), the latest
    hooks: tuple[dict[str, Any], ...] = ()

    @property
    def ended(self) -> int:
        """Jobs done, failed or cancelled."""
        return sum(self.counts.get(s, 0) for s in ("done", "failed", "cancelled"))

    @property
    def failed(self) -> int:
        """Jobs failed or cancelled."""
        return self.counts.get("failed", 0) + self.counts.get("cancelled", 0)

    @property
    def finished(self) -> bool:
        """The manifest's report is written."""
        return self.state == "finished"

    def elapsed_s(self, now: float) -> float:
        """Since the manifest came in, until it finished."""
        end = self.finished_at if self.finished_at is not None else now
        return max(0.0, end - self.created_at)


async def live_quotas(store: Store, settings: PipelineSettings, now: float) -> Quotas:
    """Each quota the APIs spend with what its sliding window has left now, from the
    ledger, and each capped API's concurrency."""
    windows: dict[str, Window] = {}
    for name, decl in settings.apis.quotas().items():
        spec = settings.quota(name)
        since = now - spec.window_s
        if decl.amount:
            used = sum(amount for _at, amount in await store.quota_amounts(name, since))
        else:
            used = len(await store.quota_spent(name, since))
        windows[name] = Window(spec.effective_limit, spec.window_s, spec.effective_limit - used)
    return Quotas(windows, dict(settings.api_concurrency))


async def predictions(
    store: Store, settings: PipelineSettings
) -> Callable[[str, str, float], float]:
    """The learned processing time of so many audio seconds, by (API, model)."""
    estimator = await load_estimator(store, settings.polling.quantile, settings.initial_ratio)
    return lambda api, model, audio_s: estimator.predict((api, model), audio_s)


def submissions_ahead(manifest: ManifestStatus, others: Sequence[ManifestStatus]) -> int:
    """Jobs of the active manifests taken in before ``manifest`` still to be submitted."""
    states = {s.value for s in TO_SUBMIT}
    return sum(
        n
        for other in others
        if other.state == "active" and other.id < manifest.id
        for state, n in other.counts.items()
        if state in states
    )


def progress_of(
    manifest: ManifestStatus,
    jobs: Sequence[Job] | None,
    now: float,
    *,
    others: Sequence[ManifestStatus] = (),
    quotas: Quotas | None = None,
    predict: Callable[[str, str, float], float] | None = None,
    hooks: Sequence[dict[str, Any]] = (),
    apis: ApiCatalogue = CATALOGUE,
) -> Progress:
    """A manifest's progress at ``now`` (pure); ``jobs`` None: counts only. Part jobs among
    ``jobs`` count in the work left (a split job waits for them), not as the manifest's."""
    jobs_per_min = eta = None
    failures: tuple[tuple[str, str], ...] = ()
    if jobs is not None:
        every, jobs = jobs, [j for j in jobs if j.parent_id is None]
        ended = [j.finished_at for j in jobs if j.state in (State.DONE, State.FAILED)]
        since = max(manifest.created_at, now - THROUGHPUT_WINDOW_S)
        jobs_per_min = throughput(ended, since, manifest.finished_at or now)
        failed = sorted(
            (j for j in jobs if j.state in (State.FAILED, State.CANCELLED)),
            key=lambda j: j.finished_at or 0.0,
        )
        failures = tuple((j.source, j.error or "") for j in failed[-SHOWN_FAILURES:])
        if manifest.state == "active" and quotas is not None and predict is not None:
            work = work_of(every, predict, now, apis, ahead=submissions_ahead(manifest, others))
            eta = finish_time(work, quotas, apis).finish_s
    return Progress(
        id=manifest.id,
        name=manifest.name,
        state=manifest.state,
        total=manifest.total,
        counts=dict(manifest.counts),
        created_at=manifest.created_at,
        finished_at=manifest.finished_at,
        report_path=manifest.report_path,
        jobs_per_min=jobs_per_min,
        eta_s=eta,
        failures=failures,
        hooks=tuple(hooks),
    )


class ProgressReader:
    """Reads the progress of the manifests a watch picks: their counts at every call, and
    what needs every job (throughput, failures, the ETA) at most every ``JOBS_EVERY_S`` and
    never more than a fifth of the time (a manifest of 100,000 jobs takes seconds to read:
    the watch must not keep the store busy)."""

    def __init__(
        self,
        store: Store,
        settings: PipelineSettings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self._jobs: dict[int, list[Job]] = {}
        self._jobs_due = 0.0

    async def read(self, wanted: Callable[[ManifestStatus], bool], now: float) -> list[Progress]:
        """The progress of every manifest ``wanted`` picks."""
        manifests = await self.store.manifests()
        chosen = [m for m in manifests if wanted(m)]
        if not chosen:
            return []
        started = self.clock()
        stale = any(m.id not in self._jobs for m in chosen)
        if stale or started >= self._jobs_due:
            self._jobs = {m.id: await self._jobs_of(m.id) for m in chosen}
            took = self.clock() - started
            self._jobs_due = self.clock() + max(JOBS_EVERY_S, JOBS_COST_FACTOR * took)
        quotas = await live_quotas(self.store, self.settings, now)
        predict = await predictions(self.store, self.settings)
        deliveries = latest_deliveries(await self.store.hook_deliveries())
        return [
            progress_of(
                manifest,
                self._jobs.get(manifest.id),
                now,
                others=manifests,
                quotas=quotas,
                predict=predict,
                hooks=[d.to_status() for d in deliveries.get(manifest.id, [])],
                apis=self.settings.apis,
            )
            for manifest in chosen
        ]

    async def _jobs_of(self, manifest_id: int) -> list[Job]:
        """A manifest's jobs and its split jobs' parts (the work left is theirs)."""
        jobs = await self.store.manifest_jobs(manifest_id)
        if any(job.state is State.SPLIT for job in jobs):
            jobs.extend(await self.store.manifest_parts(manifest_id))
        return jobs


async def read_progress(
    store: Store,
    settings: PipelineSettings,
    wanted: Callable[[ManifestStatus], bool],
    now: float,
) -> list[Progress]:
    """The progress of every manifest ``wanted`` picks, every job read now."""
    return await ProgressReader(store, settings).read(wanted, now)
