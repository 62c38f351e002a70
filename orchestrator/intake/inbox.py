"""A manifest file's whole life: seen in the inbox, taken once settled (bad ones moved to
``failed/`` with a problems report), kept under ``.active/`` while its jobs run, and filed
away to ``processed/`` or ``failed/`` when they have all ended."""

from __future__ import annotations

import asyncio
import glob
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from orchestrator.core.errors import Problem, UserInputError
from orchestrator.intake.manifest import Manifest, load_manifest
from orchestrator.outputs.files import unique_destination, write_atomic
from orchestrator.store.protocol import Store
from orchestrator.store.types import ManifestConflict, NewJob
from orchestrator.telemetry.logs import get_logger

log = get_logger()

MANIFEST_SUFFIXES = (".yaml", ".yml")
ACTIVE_DIR = ".active"
DIGEST_CHARS = 12


def is_candidate(path: Path) -> bool:
    """A file the inbox should consider: a YAML manifest, not hidden, not a temporary file."""
    name = path.name
    return not name.startswith(".") and name.lower().endswith(MANIFEST_SUFFIXES)


def active_path(active_dir: Path, digest: str, name: str) -> Path:
    """Where an accepted manifest waits while its jobs run: its name behind the start of
    its digest, so two files of the same name never meet there."""
    return active_dir / f"{digest[:DIGEST_CHARS]}-{name}"


def file_away(source: Path, folder: Path, digest: str) -> Path:
    """Move a finished manifest from the active folder to ``folder`` (once); its new path.

    A run that stopped after the move but before the store recorded it finds the file
    again by its content.
    """
    name = source.name.removeprefix(f"{digest[:DIGEST_CHARS]}-")
    if source.exists():
        folder.mkdir(parents=True, exist_ok=True)
        target = unique_destination(folder, name)
        os.replace(source, target)
        return target
    stem, suffix = os.path.splitext(name)
    for candidate in sorted(folder.glob(f"{glob.escape(stem)}*{glob.escape(suffix)}")):
        if hashlib.sha256(candidate.read_bytes()).hexdigest() == digest:
            return candidate
    return source


def new_jobs(manifest: Manifest) -> list[NewJob]:
    """The store's rows for a manifest's jobs."""
    return [NewJob(spec.source, spec.output, spec.settings) for spec in manifest.jobs]


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float


class Intake:
    """Watches the inbox; a file is read only once its size and time have settled.

    ``submit`` writes a hidden temporary file and renames it, so a manifest that appears
    under its own name is complete; the settle rule protects against other writers.
    """

    def __init__(
        self,
        store: Store,
        inbox: Path,
        failed: Path,
        settle_s: float = 1.0,
        clock: Callable[[], float] = time.time,
        on_accepted: Callable[[], None] | None = None,
        node: str = "",
    ) -> None:
        self.store = store
        self.node = node  # this daemon's node: the manifests it takes in are that node's
        self.inbox = inbox
        self.failed = failed
        self.settle_s = settle_s
        self.clock = clock
        self.on_accepted = on_accepted
        self._seen: dict[Path, _Seen] = {}

    @property
    def active_dir(self) -> Path:
        """Where accepted manifests stay while their jobs run."""
        return self.inbox / ACTIVE_DIR

    def pending(self) -> int:
        """Manifests seen in the inbox and not yet taken."""
        return len(self._seen)

    async def scan(self) -> int:
        """Look at the inbox once; take every settled manifest. Returns how many were taken."""
        self.inbox.mkdir(parents=True, exist_ok=True)
        now = self.clock()
        present: set[Path] = set()
        taken = 0
        for entry in sorted(self.inbox.iterdir()):
            if not is_candidate(entry):
                continue
            try:
                stat = entry.stat()
            except FileNotFoundError:
                continue
            if not entry.is_file():
                continue
            present.add(entry)
            seen = self._seen.get(entry)
            if seen is None or (seen.size, seen.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
                self._seen[entry] = _Seen(stat.st_size, stat.st_mtime_ns, now)
                if self.settle_s > 0:
                    continue
            elif now - seen.since < self.settle_s:
                continue
            del self._seen[entry]
            present.discard(entry)
            if await self.take(entry):
                taken += 1
        for gone in set(self._seen) - present:
            del self._seen[gone]
        if taken and self.on_accepted is not None:
            self.on_accepted()
        return taken

    async def take(self, path: Path) -> bool:
        """Load one manifest into the store, or move it aside with its problems."""
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            # Another daemon watching the same inbox took it first.
            log.info("manifest.taken_elsewhere", path=str(path))
            return False
        except OSError as exc:
            log.error("manifest.unreadable", path=str(path), error=str(exc))
            return False
        digest = hashlib.sha256(data).hexdigest()
        try:
            manifest = await asyncio.to_thread(load_manifest, path)
        except UserInputError as exc:
            await self.reject(path, exc.problems)
            return False
        destination = active_path(self.active_dir, digest, path.name)
        try:
            manifest_id, new = await self.store.add_manifest(
                manifest.name,
                str(destination),
                digest,
                new_jobs(manifest),
                self.clock(),
                node=self.node,
            )
        except ManifestConflict as exc:
            await self.reject(path, [Problem(str(path), str(exc), field="name")])
            return False
        self.active_dir.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(path, destination)
        except FileNotFoundError:
            # A daemon sharing this inbox took the same file in the same instant: the
            # store took it once (by its digest), and that daemon moved it.
            log.info("manifest.taken_elsewhere", path=str(path), manifest_id=manifest_id)
            return False
        if new:
            log.info(
                "manifest.accepted",
                manifest=manifest.name,
                manifest_id=manifest_id,
                jobs=len(manifest.jobs),
                path=str(destination),
            )
        else:
            log.info("manifest.already_known", manifest=manifest.name, manifest_id=manifest_id)
        return new

    async def reject(self, path: Path, problems: list[Problem]) -> None:
        """Move a bad manifest to the failed directory with a ``.problems.txt`` beside it."""
        self.failed.mkdir(parents=True, exist_ok=True)
        target = unique_destination(self.failed, path.name)
        try:
            os.replace(path, target)
        except FileNotFoundError:
            log.info("manifest.taken_elsewhere", path=str(path))
            return
        report = "".join(f"{problem}\n" for problem in problems)
        await asyncio.to_thread(
            write_atomic, target.with_name(target.name + ".problems.txt"), report
        )
        log.error(
            "manifest.rejected",
            path=str(path),
            moved_to=str(target),
            problems=[str(problem) for problem in problems],
        )
