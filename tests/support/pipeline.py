"""The pipeline in-process: a real SQLite store in the test's directory, the emulator over
HTTP and moto's S3 server; no daemon process, so the parts can be watched from inside.

    async with emulator(s3, speed=SPEED) as emu, rig(tmp_path, s3, bucket, emu.url) as r:
        await add_manifest(r.store, copy_files(tmp_path), FILES)
        await run_until_ended(r.pipeline(settings(tmp_path)), r, len(FILES))
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import aiohttp

from orchestrator.core.backoff import RetryPolicy
from orchestrator.core.constants import STORAGE_URL
from orchestrator.core.jobs import Job
from orchestrator.core.polling import PollingPolicy
from orchestrator.core.settings import RecognitionSettings
from orchestrator.pipeline.pipeline import Pipeline
from orchestrator.pipeline.settings import PipelineSettings
from orchestrator.speechkit.v2 import V2Client
from orchestrator.storage.protocol import ObjectStorage
from orchestrator.storage.s3 import S3Storage
from orchestrator.store import NewJob
from orchestrator.store.sqlite import SQLiteStore
from orchestrator.telemetry.metrics import DaemonMetrics
from tests.support.daemon import AUDIO
from tests.support.emulator import AUTH_HEADERS, DEFAULT_TEST_SPEED, S3ServerLike

SPEED = DEFAULT_TEST_SPEED
FILES = ("greeting-mono.ogg", "call-stereo.ogg", "voicemail-mono.wav")


def settings(tmp_path: Path, **overrides: object) -> PipelineSettings:
    """Settings scaled to the emulator's speed, as the end-to-end tests use."""
    base = PipelineSettings(
        output_root=tmp_path / "results",
        key_prefix="test/",
        delete_after_done=True,
        retry=RetryPolicy(max_attempts=8, base_delay_s=0.05, max_delay_s=0.5),
        polling=PollingPolicy(min_interval_s=0.05),
        initial_ratio=10.0 / 60.0 / SPEED,
        node="testnode",
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def copy_files(tmp_path: Path, names: Sequence[str] = FILES) -> Path:
    """Sample audio copied into ``tmp_path/audio``; the folder."""
    folder = tmp_path / "audio"
    folder.mkdir()
    for name in names:
        shutil.copy(AUDIO / name, folder / name)
    return folder


@dataclass
class Rig:
    """A pipeline's outside worlds, for one test."""

    store: SQLiteStore
    storage: ObjectStorage
    client: V2Client
    metrics: DaemonMetrics
    ended: list[Job] = field(default_factory=list)
    wanted: int = 0
    all_ended: asyncio.Event = field(default_factory=asyncio.Event)

    def pipeline(self, config: PipelineSettings, owner: str | None = None) -> Pipeline:
        """A pipeline over this rig (v2 only) that records the jobs it ends."""

        async def ended(job: Job) -> None:
            self.ended.append(job)
            if len(self.ended) >= self.wanted:
                self.all_ended.set()

        return Pipeline(
            self.store,
            self.storage,
            {"v2": self.client},
            config,
            metrics=self.metrics,
            owner=owner,
            on_job_ended=ended,
        )


@asynccontextmanager
async def rig(
    tmp_path: Path, s3: S3ServerLike, bucket: str, emulator_url: str
) -> AsyncIterator[Rig]:
    """A store in ``tmp_path``, object storage on ``bucket`` and a v2 client of the emulator."""
    store = await SQLiteStore.open(tmp_path / "state" / "s.sqlite3")
    storage = S3Storage(
        s3.endpoint_url, s3.region, bucket, s3.access_key, s3.secret_key, STORAGE_URL
    )
    try:
        async with aiohttp.ClientSession() as session, storage:
            client = V2Client(session, emulator_url, emulator_url, AUTH_HEADERS, 10.0)
            yield Rig(store, storage, client, DaemonMetrics())
    finally:
        await store.close()


async def add_manifest(
    store: SQLiteStore, folder: Path, names: Sequence[str], name: str = "m"
) -> None:
    """A manifest ``name`` of the files ``names`` in ``folder``, added as intake would."""
    jobs = [NewJob(str(folder / n), Path(n).stem, RecognitionSettings()) for n in names]
    await store.add_manifest(name, f"/in/{name}.yaml", f"digest-{name}", jobs, 0.0)


async def run_until_ended(pipeline: Pipeline, rig_: Rig, count: int) -> None:
    """Run the pipeline until ``count`` jobs have ended (awaited, with a guard)."""
    rig_.wanted = count
    if len(rig_.ended) >= count:
        rig_.all_ended.set()
    stop = asyncio.Event()
    task = asyncio.create_task(pipeline.run(stop))
    try:
        async with asyncio.timeout(60):
            await rig_.all_ended.wait()
    finally:
        stop.set()
        await task
