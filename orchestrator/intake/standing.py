"""Standing manifests (``watch: true``): the files that appear under a manifest's folders
become jobs of the same manifest, each once it has stopped growing, until the manifest is
closed (``close NAME`` or ``cancel NAME``).

The folders are walked again every ``watch_rescan_s`` (a bounded rescan: it works on
network mounts, where change notifications do not come); between walks only the files
waiting to settle are looked at again. A file is taken once its size and modification
time have not changed for ``watch_settle_s``. What was taken is in the store (each job's
path and stamp), so a restart takes nothing twice and misses nothing: the first walk after
it finds every file not yet taken.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.core.errors import summarize
from orchestrator.core.jobs import ManifestStatus
from orchestrator.intake.folder_events import FolderEvents
from orchestrator.intake.jobspec import JobSpec
from orchestrator.intake.manifest import ManifestReading
from orchestrator.intake.roots import InputRoots
from orchestrator.intake.runs import NewFiles, stamp_of
from orchestrator.store.protocol import Store
from orchestrator.store.types import NewJob
from orchestrator.telemetry.logs import get_logger

log = get_logger()

LOG_PROBLEMS = 20


@dataclass
class _Waiting:
    """A new file seen, waiting to settle: its job, its stamp and since when it has it."""

    spec: JobSpec
    stamp: str
    since: float


@dataclass
class _Watched:
    """What is known of one open standing manifest."""

    files: NewFiles  # the files its runs took
    waiting: dict[str, _Waiting] = field(default_factory=dict)
    next_walk: float = 0.0
    problems: str = ""  # the last problems said, not said again at every walk
    notified: bool = False  # its folders are watched for change notifications


@dataclass
class _Walked:
    """What a walk of a manifest's folders found."""

    folders: list[Path]  # the folders its entries name
    found: list[JobSpec]  # the jobs of the files it has not taken
    problems: list[str]  # its entries' problems (a file outside the roots, say)


def _walk(path: Path, roots: InputRoots | None, files: NewFiles) -> _Walked:
    """Read the manifest file ``path`` and walk its folders: run in a worker thread."""
    reading = ManifestReading(path, roots)
    folders = reading.folders()
    found = [spec for spec in reading.jobs() if not files.known_now(spec.source, spec.settings)]
    return _Walked(folders, found, summarize(reading.problems, LOG_PROBLEMS))


class Standing:
    """Feeds the open standing manifests of this daemon's node with their new files."""

    def __init__(
        self,
        store: Store,
        roots: InputRoots | None,
        settle_s: Callable[[], float],
        rescan_s: Callable[[], float],
        node: str = "",
        clock: Callable[[], float] = time.time,
        on_added: Callable[[], None] | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        # Something came in under a manifest's folders: it is walked at the next look,
        # which ``on_change`` brings forward.
        self.on_change = on_change
        self.events = FolderEvents(self._changed)
        self.roots = roots
        self.settle_s = settle_s  # read at each look: a reload may change them
        self.rescan_s = rescan_s
        self.node = node
        self.clock = clock
        self.on_added = on_added
        self._watched: dict[int, _Watched] = {}

    def _changed(self, manifest_id: int) -> None:
        watched = self._watched.get(manifest_id)
        if watched is not None:
            watched.next_walk = 0.0
            if self.on_change is not None:
                self.on_change()

    async def run_events(self) -> None:
        """Pass the change notifications on until cancelled; then release them."""
        try:
            await self.events.run()
        finally:
            self.events.close()

    async def look(self) -> int:
        """Walk the folders due for it, take the files that have settled; how many jobs
        were added. Never raises: a failure is logged and tried again at the next look."""
        try:
            added = await self._look()
        except Exception as exc:
            log.error("manifest.watch_error", error=str(exc), exc_info=True)
            return 0
        if added and self.on_added is not None:
            self.on_added()
        return added

    async def _look(self) -> int:
        manifests = [m for m in await self.store.open_standing() if self._mine(m)]
        for gone in set(self._watched) - {m.id for m in manifests}:
            del self._watched[gone]  # closed, cancelled or finished
            self.events.forget(gone)
        added = 0
        for manifest in manifests:
            watched = self._watched.get(manifest.id)
            if watched is None:
                taken = await self.store.files_taken(manifest.name)
                watched = self._watched[manifest.id] = _Watched(NewFiles(taken))
            now = self.clock()
            if now >= watched.next_walk:
                watched.next_walk = now + self.rescan_s()
                await self._walk(manifest, watched, now)
            added += await self._take_settled(manifest, watched, now)
        return added

    def _mine(self, manifest: ManifestStatus) -> bool:
        """A manifest this daemon took in (its files are on this node's disks)."""
        return manifest.node in ("", self.node)

    async def _walk(self, manifest: ManifestStatus, watched: _Watched, now: float) -> None:
        """Note the new files under the manifest's folders (said once when its entries
        have problems: the others are watched all the same)."""
        walked = await asyncio.to_thread(_walk, Path(manifest.path), self.roots, watched.files)
        if not watched.notified:
            watched.notified = True
            self.events.watch(manifest.id, walked.folders)  # in the loop: events use it too
        problems = walked.problems
        for spec in walked.found:
            if spec.source not in watched.waiting:
                stamp = stamp_of(spec.source)
                if stamp is not None:
                    watched.waiting[spec.source] = _Waiting(spec, stamp, now)
        said = "\n".join(problems)
        if said != watched.problems and problems:
            log.warning("manifest.watch_problems", manifest=manifest.name, problems=problems)
        watched.problems = said

    async def _take_settled(self, manifest: ManifestStatus, watched: _Watched, now: float) -> int:
        """Add the waiting files whose stamp has not changed for the settle time."""
        ready: list[NewJob] = []
        settle_s = self.settle_s()
        for source, waiting in list(watched.waiting.items()):
            stamp = stamp_of(source)
            if stamp is None:
                del watched.waiting[source]  # gone before it settled
            elif stamp != waiting.stamp:
                watched.waiting[source] = _Waiting(waiting.spec, stamp, now)  # still growing
            elif now - waiting.since >= settle_s:
                spec = waiting.spec
                ready.append(NewJob(spec.source, spec.output, spec.settings, spec.options, stamp))
        if not ready:
            return 0
        if not await self.store.add_jobs(manifest.id, ready, now):
            return 0  # closed meanwhile: the next look forgets it
        for job in ready:
            del watched.waiting[job.source]
            watched.files.note(job.source, job.stamp, job.settings)
        log.info("manifest.grew", manifest=manifest.name, manifest_id=manifest.id, jobs=len(ready))
        return len(ready)
