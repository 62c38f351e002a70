"""The overview behind ``/status`` and the status page, read from each real store: counts,
every quota's window and pause, the newest failures only; the metrics a scrape exports
come from the same quota usage."""

from __future__ import annotations

from orchestrator.core.jobs import State
from orchestrator.core.quota import AUDIO_QUOTA, SUBMIT_QUOTA, QuotaSpec
from orchestrator.core.settings import RecognitionSettings
from orchestrator.pipeline.ledger import QuotaLedger
from orchestrator.service.overview import gather
from orchestrator.speechkit.v2 import STATUS_CHECKS
from orchestrator.store import Claim, JobUpdate, NewJob, Spend, Store
from orchestrator.telemetry.metrics import DaemonMetrics
from tests.support.clock import Clock

SPECS = {
    SUBMIT_QUOTA: QuotaSpec(10, 60.0),
    STATUS_CHECKS.name: QuotaSpec(50, 60.0),
    AUDIO_QUOTA: QuotaSpec(3600, 86400.0),
}
BACKOFF = {"base_s": 30.0, "max_s": 60.0, "memory_s": 60.0}


def jobs(count: int) -> list[NewJob]:
    return [NewJob(f"/audio/{i}.ogg", f"o{i}", RecognitionSettings()) for i in range(count)]


async def test_the_overview_of_a_store(store: Store) -> None:
    clock, metrics = Clock(1000.0), DaemonMetrics()
    ledger = QuotaLedger(store, metrics, clock)
    await store.add_manifest("calls", "/in/calls.yaml", "d1", jobs(6), 900.0)
    # Four submitted now, each 90 s of audio; then one failure after another.
    spends = (
        Spend(SUBMIT_QUOTA, SPECS[SUBMIT_QUOTA]),
        Spend(AUDIO_QUOTA, SPECS[AUDIO_QUOTA], amount=lambda _job: 90.0),
    )
    claim = Claim((State.QUEUED,), 4, 60.0, spends=spends, enter=State.SUBMITTING)
    submitted = (await store.claim(claim, "me", 1000.0)).jobs
    queued = await store.jobs_in([State.QUEUED])
    for at, job in enumerate(queued, start=1):
        fields: JobUpdate = {
            "state": State.FAILED,
            "error": f"reason {job.id}",
            "finished_at": 990.0 + at,
        }
        await store.update_job(job.id, None, fields, 990.0 + at)
    await ledger.pause(STATUS_CHECKS.name, 45.0, **BACKOFF)
    clock.now = 1010.0

    seen = await gather(
        store, ledger, SPECS, node="rec-01", started_at=400.0, now=clock.now, failures=1
    )

    assert seen.jobs == {"submitting": 4, "failed": 2}
    (calls,) = seen.manifests
    assert calls.counts == {"submitting": 4, "failed": 2}
    # Only the newest failure, as asked.
    assert [(f.job_id, f.reason, f.manifest) for f in seen.failures] == [
        (queued[-1].id, f"reason {queued[-1].id}", "calls")
    ]
    usage = {q.name: q for q in seen.quotas}
    assert list(usage) == [SUBMIT_QUOTA, STATUS_CHECKS.name, AUDIO_QUOTA]
    assert (usage[SUBMIT_QUOTA].used, usage[SUBMIT_QUOTA].left) == (4.0, 6.0)
    assert (usage[AUDIO_QUOTA].used, usage[AUDIO_QUOTA].limit) == (360.0, 3600.0)
    assert usage[STATUS_CHECKS.name].pause_left(clock.now) == 35.0
    assert usage[SUBMIT_QUOTA].paused_until is None
    document = seen.to_dict()
    assert document["uptime_s"] == 610.0
    assert [q["paused_for_s"] for q in document["quotas"]] == [0.0, 35.0, 0.0]
    assert len(submitted) == 4

    # A scrape's figures are the same usage, the audio quota and the pause included.
    await ledger.report(SPECS)
    assert metrics.quota_used.value(quota=AUDIO_QUOTA) == 360.0
    assert metrics.quota_left.value(quota=SUBMIT_QUOTA) == 6.0
    assert metrics.quota_pause.value(quota=STATUS_CHECKS.name) == 35.0
    assert metrics.quota_pause.value(quota=SUBMIT_QUOTA) == 0.0
    # Once the window has passed, nothing is used and the pause is over.
    clock.now = 1000.0 + 86400.0
    later = {q.name: q for q in await ledger.usage(SPECS)}
    assert later[AUDIO_QUOTA].used == 0.0
    assert later[STATUS_CHECKS.name].pause_left(clock.now) == 0.0
