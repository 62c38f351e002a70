"""A manifest's transcripts exported as a dataset: its jobs read from the store a page at a
time, each done job's JSON output read from where the results went (the disk, else object
storage), one at a time, and its utterances written as rows. Memory stays bounded whatever
the manifest's size: one page of jobs, one document and one writer's batch at most."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from orchestrator.core import jsontext
from orchestrator.core.destinations import Destinations
from orchestrator.core.jobs import Job, ManifestStatus, State
from orchestrator.core.output_options import OutputOptions
from orchestrator.core.refs import ObjectRef
from orchestrator.outputs.dataset import DatasetWriter, JobOfRows, open_writer, utterance_rows
from orchestrator.outputs.files import create_temp
from orchestrator.outputs.write import checked_parts, object_keys
from orchestrator.storage.protocol import ObjectStorage
from orchestrator.store.protocol import ManifestStore

PAGE = 500  # jobs read from the store at a time
# The largest JSON output read from object storage (a long call's is a few megabytes).
MAX_DOCUMENT_BYTES = 512 * 1024 * 1024
_JSON_ONLY = OutputOptions(formats=("json",))
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ResultsAt:
    """Where the jobs' JSON outputs are: files under ``output_root`` when the results go
    to the disk, else objects in ``storage`` under the destinations' prefix."""

    destinations: Destinations
    output_root: Path
    storage: ObjectStorage | None = None


@dataclass
class Exported:
    """What an export wrote and left out."""

    jobs: int = 0  # done jobs whose rows were written
    rows: int = 0
    not_done: int = 0  # jobs without a transcript (failed, cancelled, still going)
    missing: int = 0  # done jobs whose JSON output is not there (no json chosen, removed)
    first_missing: str | None = None  # where the first of them should have been


def find_manifest(manifests: list[ManifestStatus], name: str) -> ManifestStatus | None:
    """The manifest called ``name`` (the latest, when a name was used again)."""
    named = [m for m in manifests if m.name == name]
    return max(named, key=lambda m: m.id) if named else None


async def manifest_pages(store: ManifestStore, manifest_id: int) -> AsyncIterator[list[Job]]:
    """Every job of a manifest, a page at a time from the store."""
    after = 0
    while True:
        page = await store.manifest_jobs_page(manifest_id, after, PAGE)
        if page:
            yield page
        if len(page) < PAGE:
            return
        after = page[-1].id


async def manifest_jobs(store: ManifestStore, manifest_id: int) -> AsyncIterator[Job]:
    """Every job of a manifest, read from the store a page at a time."""
    async for page in manifest_pages(store, manifest_id):
        for job in page:
            yield job


def json_path(output_root: Path, job: Job) -> str:
    """Where a job's JSON output is on disk (a string: ``pathlib`` would intern every
    file's name for good, memory that grows with the manifest)."""
    parts = checked_parts(job.manifest_name, job.output)
    return os.path.join(output_root, job.manifest_name, *parts) + ".json"


class _Rows:
    """Rows of jobs' JSON outputs written, and the tally of what was and was not."""

    def __init__(self, writer: DatasetWriter) -> None:
        self.writer = writer
        self.done = Exported()

    def job(self, job: Job, place: str, data: bytes | None) -> None:
        """One done job's JSON output (None: not there) as rows."""
        done = self.done
        if data is None:
            done.missing += 1
            done.first_missing = done.first_missing or place
            return
        try:
            document = jsontext.loads(data)
        except ValueError:
            raise ValueError(f"{place}: not a JSON document") from None
        of = JobOfRows(job.manifest_name, job.id, job.source, job.output)
        for row in utterance_rows(of, document if isinstance(document, dict) else {}):
            self.writer.write(row)
            done.rows += 1
        done.jobs += 1

    def page_from_disk(self, jobs: list[Job], output_root: Path) -> None:
        """A page of done jobs, their JSON outputs read from the disk (in one thread hop:
        a hop a job would cost more than the reading)."""
        for job in jobs:
            place = json_path(output_root, job)
            try:
                with open(place, "rb") as handle:
                    data: bytes | None = handle.read()
            except FileNotFoundError:
                data = None
            self.job(job, place, data)


async def export_rows(
    store: ManifestStore, manifest: ManifestStatus, where: ResultsAt, fmt: str, stream: IO[bytes]
) -> Exported:
    """Write the manifest's dataset in ``fmt`` onto ``stream``; what was written and left
    out. A JSON output that is not JSON fails the export (ValueError naming it)."""
    rows = _Rows(open_writer(fmt, stream))
    async for page in manifest_pages(store, manifest.id):
        done = [job for job in page if job.state is State.DONE]
        rows.done.not_done += len(page) - len(done)
        if where.destinations.disk:
            await asyncio.to_thread(rows.page_from_disk, done, where.output_root)
            continue
        prefix, storage = where.destinations.objects_prefix, where.storage
        assert prefix is not None, "results nowhere"
        assert storage is not None, "objects without storage"
        for job in done:
            key = object_keys(prefix, job.manifest_name, job.output, (1,), options=_JSON_ONLY)
            data = await storage.get_bytes(key["json"], MAX_DOCUMENT_BYTES)
            place = str(ObjectRef(storage.bucket, key["json"]))
            await asyncio.to_thread(rows.job, job, place, data)
    await asyncio.to_thread(rows.writer.close)
    return rows.done


@asynccontextmanager
async def atomic_file(path: Path) -> AsyncIterator[IO[bytes]]:
    """A binary file that replaces ``path`` once the block ends without error (removed
    otherwise), so a reader never sees half a dataset."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Named as write_atomic names its own: a kill meanwhile leaves what the sweep removes.
    fd, tmp = create_temp(path.parent, path.name)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


def _sha256(path: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    for chunk in _chunks(path):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


async def upload_file(storage: ObjectStorage, key: str, path: Path) -> None:
    """Put a file written already under ``key``, streamed (StorageError on failure)."""
    size, sha256 = await asyncio.to_thread(_sha256, path)
    await storage.ensure_uploaded(key, size, sha256, lambda: _chunks(path))
