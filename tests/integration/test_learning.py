"""What daemons sharing a store learn of the service's speed: each observation merged into
the stored state, and read back by the others while they run (not only at their start)."""

from __future__ import annotations

import random
import time
from pathlib import Path

from orchestrator.core.audio import AudioFacts
from orchestrator.core.jobs import Job, State
from orchestrator.pipeline.context import Context
from orchestrator.pipeline.learning import Learning
from orchestrator.pipeline.ledger import QuotaLedger
from orchestrator.pipeline.settings import PipelineSettings
from orchestrator.pipeline.work import InFlight
from orchestrator.storage.local import LocalStorage
from orchestrator.store.protocol import Store
from orchestrator.telemetry.metrics import DaemonMetrics
from tests.integration.conftest import Opener
from tests.support.jobs import make_job

OGG = AudioFacts("OGG_OPUS", 600.0, 1, 48000, 0, 1_000_000, "ogg_opus")
SUBMITTED_AT = 1000.0


def learning(store: Store, tmp_path: Path, owner: str) -> Learning:
    metrics = DaemonMetrics()
    ctx = Context(
        store=store,
        storage=LocalStorage(tmp_path / "objects", "b"),  # learning touches none
        clients={},
        settings=PipelineSettings(output_root=tmp_path / "results", initial_ratio=0.05),
        metrics=metrics,
        ledger=QuotaLedger(store, metrics, time.time),
        clock=time.time,
        rng=random.Random(0),
        owner=owner,
        kick=lambda _stage: None,
    )
    return Learning(ctx, InFlight())


def finished_job(job_id: int) -> Job:
    return make_job(
        job_id,
        State.RUNNING,
        folder="/calls",
        audio=OGG,
        submitted_at=SUBMITTED_AT,
        polls=1,
        last_poll_at=SUBMITTED_AT + 100.0,
    )


async def test_a_daemon_takes_up_what_another_learned_while_it_runs(
    open_store: Opener, tmp_path: Path
) -> None:
    one, other = await open_store(), await open_store()
    try:
        first, second = learning(one, tmp_path, "a:1:x"), learning(other, tmp_path, "b:1:y")
        await first.load()
        await second.load()
        guess = second.first_check_at(finished_job(1), SUBMITTED_AT)
        # The first daemon sees ten jobs finish, each after 300 s of processing for 600 s
        # of audio: far later than the first guess (0.05 s per audio second).
        for job_id in range(1, 11):
            await first.observe(finished_job(job_id), 300.0, SUBMITTED_AT + 400.0)
        learned = first.first_check_at(finished_job(11), SUBMITTED_AT)
        assert learned > guess

        # The second one has seen nothing finish; it reads back what the first learned.
        assert await second.follow() == 1
        assert second.first_check_at(finished_job(11), SUBMITTED_AT) == learned
        # Nothing new since: nothing taken again.
        assert await second.follow() == 0
        # The first one's own observations are what it holds already.
        assert await first.follow() == 0
        # One that starts now loads it, and has nothing to take again until it changes.
        third = learning(other, tmp_path, "c:1:z")
        await third.load()
        assert third.first_check_at(finished_job(11), SUBMITTED_AT) == learned
        assert await third.follow() == 0
        await first.observe(finished_job(12), 300.0, SUBMITTED_AT + 400.0)
        assert await third.follow() == 1
    finally:
        await one.close()
        await other.close()


async def test_only_a_store_several_daemons_share_is_followed(open_store: Opener) -> None:
    store = await open_store()
    try:
        assert store.shared is (type(store).__name__ == "PostgresStore")
    finally:
        await store.close()
