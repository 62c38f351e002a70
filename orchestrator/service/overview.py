"""The daemon at a glance, gathered once for both ``/status`` (JSON) and the status page
(``/``, HTML): manifests with their jobs counted by state, every quota's use, the newest
failures with their reasons, the node and its uptime.

It stays cheap however many jobs the store holds: job counts come from the store's count
of each manifest's jobs by state (one pass over a covering index, no row read), the
failures from an index of the failed jobs alone read newest first and cut at
``RECENT_FAILURES``, the quotas from their ledger windows (bounded by the quotas, not by
the jobs).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.core.hooks import HookDelivery
from orchestrator.core.jobs import ManifestStatus
from orchestrator.core.quota import AMOUNT_QUOTAS, QuotaSpec, QuotaUsage
from orchestrator.pipeline.ledger import QuotaLedger
from orchestrator.service.progress import latest_deliveries, manifest_summary
from orchestrator.store.protocol import Store

# How many of the newest failures `/status` and the page list (every failure is in its
# manifest's report and in `status`).
RECENT_FAILURES = 20


@dataclass(frozen=True)
class FailedJob:
    """One failed job as the page lists it."""

    job_id: int
    manifest: str
    source: str
    reason: str
    failed_at: float | None


@dataclass(frozen=True)
class Overview:
    """Everything ``/status`` and the page show, as of ``now``."""

    node: str
    started_at: float
    now: float
    jobs: Mapping[str, int]
    manifests: Sequence[ManifestStatus]
    quotas: Sequence[QuotaUsage]
    failures: Sequence[FailedJob]
    # Each manifest's completion-hook deliveries of its latest finish, by manifest id.
    hooks: Mapping[int, Sequence[HookDelivery]]

    @property
    def uptime_s(self) -> float:
        """Seconds since the daemon started."""
        return max(0.0, self.now - self.started_at)

    def to_dict(self) -> dict[str, Any]:
        """The ``/status`` document."""
        return {
            "node": self.node,
            "started_at": self.started_at,
            "uptime_s": round(self.uptime_s, 1),
            "generated_at": self.now,
            "jobs": dict(sorted(self.jobs.items())),
            "manifests": [
                {
                    **manifest_summary(m, self.now),
                    "hooks": [d.to_status() for d in self.hooks.get(m.id, [])],
                }
                for m in self.manifests
            ],
            "quotas": [
                {
                    "quota": q.name,
                    "unit": "seconds" if q.name in AMOUNT_QUOTAS else "requests",
                    "used": q.used,
                    "left": q.left,
                    "limit": q.limit,
                    "window_s": q.window_s,
                    "paused_for_s": round(q.pause_left(self.now), 3),
                }
                for q in self.quotas
            ],
            "failures": [
                {
                    "job_id": f.job_id,
                    "manifest": f.manifest,
                    "source": f.source,
                    "reason": f.reason,
                    "failed_at": f.failed_at,
                }
                for f in self.failures
            ],
        }


async def gather(
    store: Store,
    ledger: QuotaLedger,
    quotas: Mapping[str, QuotaSpec],
    *,
    node: str,
    started_at: float,
    now: float,
    failures: int = RECENT_FAILURES,
) -> Overview:
    """Read the overview from the store and the quota ledger."""
    manifests = await store.manifests()
    # Every job belongs to one manifest: their counts added up are the store's, without a
    # second pass over the jobs (the one part of a view whose cost grows with them).
    jobs: Counter[str] = Counter()
    for manifest in manifests:
        jobs.update(manifest.counts)
    return Overview(
        node=node,
        started_at=started_at,
        now=now,
        jobs=dict(jobs),
        manifests=manifests,
        quotas=await ledger.usage(quotas, now),
        failures=[
            FailedJob(job.id, job.manifest_name, job.source, job.error or "", job.finished_at)
            for job in await store.recent_failures(failures)
        ],
        hooks=latest_deliveries(await store.hook_deliveries()),
    )
