"""What every part of the pipeline shares: the outside worlds, the settings, the clock."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from orchestrator.core.decisions import Circumstances
from orchestrator.core.jobs import Job, Stage
from orchestrator.pipeline.bucket import BucketGate
from orchestrator.pipeline.ledger import QuotaLedger
from orchestrator.pipeline.media import Media, workers
from orchestrator.pipeline.results import Results
from orchestrator.pipeline.settings import PipelineSettings
from orchestrator.speechkit.base import RecognitionClient
from orchestrator.storage.protocol import ObjectStorage
from orchestrator.store.protocol import Store
from orchestrator.telemetry.logs import log_context
from orchestrator.telemetry.metrics import DaemonMetrics


def job_logging(job: Job) -> AbstractContextManager[None]:
    """Every log line of a step for ``job`` carries its manifest and id (a part job's also
    its parent and which part it is): bound once for the step, not written at each call."""
    if job.part is not None:
        return log_context(
            manifest=job.manifest_name,
            job_id=job.id,
            parent_id=job.parent_id,
            part=job.part.label,
        )
    return log_context(manifest=job.manifest_name, job_id=job.id)


@dataclass
class Context:
    """One pipeline's collaborators. ``settings`` is replaced whole on reload; ``kick``
    wakes a stage to look for due work now."""

    store: Store
    storage: ObjectStorage
    clients: Mapping[str, RecognitionClient]
    settings: PipelineSettings
    metrics: DaemonMetrics
    ledger: QuotaLedger
    clock: Callable[[], float]
    rng: random.Random
    owner: str
    kick: Callable[[Stage], None]
    results: Results = field(init=False)
    media: Media = field(init=False)
    bucket: BucketGate = field(init=False)

    def __post_init__(self) -> None:
        self.results = Results(self.store)
        self.media = Media(workers(self.settings.conversions))
        self.bucket = BucketGate(
            self.storage, self.metrics, lambda: self.settings, self.clock, self.rng
        )

    def client(self, job: Job) -> RecognitionClient | None:
        """The client of the job's API, or None when this daemon does not drive it."""
        return self.clients.get(job.settings.api)

    def circumstances(self) -> Circumstances:
        """Now, a fresh random draw and the retry policy: what a decision may depend on."""
        settings = self.settings
        return Circumstances(
            self.clock(), self.rng.random(), settings.retry, settings.results_ttl_s
        )
