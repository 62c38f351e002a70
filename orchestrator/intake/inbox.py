"""A manifest file's whole life: seen in the inbox, taken once settled (bad ones moved to
``failed/`` with a problems report), kept under ``.active/`` while its jobs run, and filed
away to ``processed/`` or ``failed/`` when they have all ended.

No file can stop the others: whatever one holds (bytes YAML refuses, a path no filesystem
takes, a link, a bug of ours), it ends in ``failed/`` with its problems, or, when even that
move fails, it is set aside and not read again until it changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from orchestrator.config.yamlfile import read_yaml_bytes
from orchestrator.core.errors import Problem, UserInputError, summarize
from orchestrator.core.hooks import HookPolicy
from orchestrator.intake.filing import ACTIVE_DIR, active_path, file_finished
from orchestrator.intake.manifest import ManifestReading, load_manifest
from orchestrator.intake.on_finish import refusals
from orchestrator.intake.roots import InputRoots
from orchestrator.intake.runs import NewFiles, asks_again, forget_again
from orchestrator.intake.sharing import SHARED_REPORT_MODE, UNREADABLE, is_shared
from orchestrator.outputs.files import fit_name, unique_destination, write_atomic
from orchestrator.store.protocol import Store
from orchestrator.store.types import ManifestConflict
from orchestrator.telemetry.logs import get_logger

log = get_logger()

MANIFEST_SUFFIXES = (".yaml", ".yml")
PROBLEMS_SUFFIX = ".problems.txt"
# A problems report lists this many problems, a log line fewer (journald keeps lines whole
# up to 48 KiB); both then count the rest.
REPORT_PROBLEMS = 1000
LOG_PROBLEMS = 20
# Manifests are read side by side, so that a huge one (seconds to read) does not hold the
# others: one larger than BIG_BYTES at a time, and up to SMALL_TAKERS smaller ones beside
# it (memory stays bounded). A scan waits for those it started up to TAKE_BUDGET_S, then
# leaves them running and looks at the inbox again.
BIG_BYTES = 1024 * 1024
SMALL_TAKERS = 4
TAKE_BUDGET_S = 5.0


def is_candidate(path: Path) -> bool:
    """A file the inbox should consider: a YAML manifest, not hidden, not a temporary file."""
    name = path.name
    return not name.startswith(".") and name.lower().endswith(MANIFEST_SUFFIXES)


def problems_path(manifest: Path) -> Path:
    """The report beside a rejected manifest."""
    return manifest.with_name(manifest.name + PROBLEMS_SUFFIX)


def every_problem(reading: ManifestReading) -> list[Problem]:
    """Every problem of a manifest whose jobs were not all read: the rest are read (and
    dropped) for theirs."""
    for _job in reading.jobs():
        pass
    return reading.problems


def complete_rejections(
    failed: Path, known_digests: Iterable[str], roots: InputRoots | None
) -> list[Path]:
    """Give every manifest in ``failed/`` that has no problems report, and that the store
    does not know (the finisher files valid ones there), the report a run stopped in the
    middle of a rejection never wrote; the manifests so completed.

    A manifest that loads without a problem is left alone: nothing says it was rejected.
    """
    known = set(known_digests)
    completed: list[Path] = []
    if not failed.is_dir():
        return completed
    for path in sorted(failed.iterdir()):
        if not is_candidate(path) or problems_path(path).exists():
            continue
        data, _problem = read_yaml_bytes(path, follow_symlinks=False)
        if data is None or hashlib.sha256(data).hexdigest() in known:
            continue
        try:
            load_manifest(path, roots, data)
            continue
        except UserInputError as exc:
            problems = exc.problems
        except Exception as exc:
            problems = [Problem(str(path), f"cannot be read ({type(exc).__name__})")]
        with contextlib.suppress(OSError):
            write_report(problems_path(path), report_text(problems))
            completed.append(path)
    return completed


def write_report(path: Path, text: str) -> None:
    """Write a problems report; in a folder shared with a group (setgid), readable by the
    group, so the operators who share it read why their manifest was refused."""
    write_atomic(path, text)
    if is_shared(path.parent):
        os.chmod(path, SHARED_REPORT_MODE)


def report_text(problems: list[Problem]) -> str:
    """A ``.problems.txt`` report: one problem a line, the first ``REPORT_PROBLEMS``."""
    return "".join(f"{line}\n" for line in summarize(problems, REPORT_PROBLEMS))


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float


def _lstat(path: Path) -> os.stat_result | None:
    """``path``'s own status (a link's, not its target's), or None when it cannot be read."""
    try:
        return path.lstat()
    except OSError:
        return None


def _signature(info: os.stat_result) -> tuple[int, int, int]:
    return (info.st_ino, info.st_size, info.st_mtime_ns)


class Intake:
    """Watches the inbox; a file is read only once its size and time have settled.

    ``submit`` writes a hidden temporary file and renames it, so a manifest that appears
    under its own name is complete; the settle rule protects against other writers.
    """

    def __init__(  # noqa: PLR0913 (wiring: the options are keywords with defaults)
        self,
        store: Store,
        inbox: Path,
        failed: Path,
        processed: Path,
        settle_s: float = 1.0,
        clock: Callable[[], float] = time.time,
        on_accepted: Callable[[], None] | None = None,
        node: str = "",
        roots: InputRoots | None = None,
        hook_policy: HookPolicy | None = None,
        budget_s: float = TAKE_BUDGET_S,
        watch_settle_s: float = 0.0,
    ) -> None:
        self.store = store
        # A standing manifest's files changed this recently are left to its watch.
        self.watch_settle_s = watch_settle_s
        self.budget_s = budget_s  # how long a scan waits for the manifests it takes
        # What a manifest's own completion hooks may be (None: not checked here; the
        # hooks' runner checks again before each attempt).
        self.hook_policy = hook_policy
        self.node = node  # this daemon's node: the manifests it takes in are that node's
        self.inbox = inbox
        self.failed = failed
        self.processed = processed
        self.settle_s = settle_s
        self.clock = clock
        self.on_accepted = on_accepted
        self.roots = roots
        self._seen: dict[Path, _Seen] = {}
        # Files that could be neither taken nor moved to failed/: not read again until
        # they change (the same inode, size and time means the same trouble).
        self._set_aside: dict[Path, tuple[int, int, int]] = {}
        self._scan_error: str | None = None
        self._taking: dict[Path, asyncio.Task[bool]] = {}  # manifests being taken
        self._big = asyncio.Semaphore(1)
        self._small = asyncio.Semaphore(SMALL_TAKERS)

    @property
    def active_dir(self) -> Path:
        """Where accepted manifests stay while their jobs run."""
        return self.inbox / ACTIVE_DIR

    def pending(self) -> int:
        """Manifests seen in the inbox and not yet taken (or being taken)."""
        return len(self._seen) + len(self._taking)

    def waiting(self) -> bool:
        """Whether the inbox holds a manifest still to be taken (set-aside ones are not)."""
        try:
            entries = list(self.inbox.iterdir())
        except FileNotFoundError:
            return False
        for entry in entries:
            if not is_candidate(entry) or entry.is_dir():
                continue
            with contextlib.suppress(OSError):
                if self._set_aside.get(entry) != _signature(entry.lstat()):
                    return True
        return False

    async def look(self) -> int:
        """:meth:`scan`, never raising: a failure of the whole scan (the inbox is not a
        readable directory, say) is logged once with its traceback, and again only when it
        changes, never a line at every tick. Single files never get here."""
        try:
            taken = await self.scan()
        except Exception as exc:
            if str(exc) != self._scan_error:
                log.error("intake.error", error=str(exc), exc_info=True)
            self._scan_error = str(exc)
            return 0
        self._scan_error = None
        return taken

    async def scan(self) -> int:
        """Look at the inbox once; start taking every settled manifest, and wait for those
        being taken up to ``TAKE_BUDGET_S``. Returns how many of them were taken by then
        (one still running is counted by a later scan, or by :meth:`settled`)."""
        self.inbox.mkdir(parents=True, exist_ok=True)
        now = self.clock()
        present: set[Path] = set()
        for entry in sorted(self.inbox.iterdir()):
            if not is_candidate(entry) or entry in self._taking:
                continue
            info = _lstat(entry)  # a link is judged as a link, never followed
            if info is not None and await self._settled(entry, info, now, present):
                self._taking[entry] = asyncio.create_task(self._take_in_turn(entry, info))
        for gone in set(self._seen) - present:
            del self._seen[gone]
        if self._taking:
            await asyncio.wait(list(self._taking.values()), timeout=self.budget_s)
        return self._collect()

    async def _settled(
        self, entry: Path, info: os.stat_result, now: float, present: set[Path]
    ) -> bool:
        """Whether ``entry`` (of status ``info``) is a file settled enough to take (a link
        or another kind of file is rejected here; one still changing is remembered)."""
        if stat.S_ISDIR(info.st_mode) or self._set_aside.get(entry) == _signature(info):
            return False
        self._set_aside.pop(entry, None)
        if not stat.S_ISREG(info.st_mode):
            # A link, a FIFO, a socket: nothing to wait for, and never to be read.
            what = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a regular file"
            await self.reject(entry, [Problem(str(entry), f"is {what}; place the file itself")])
            return False
        present.add(entry)
        seen = self._seen.get(entry)
        if seen is None or (seen.size, seen.mtime_ns) != (info.st_size, info.st_mtime_ns):
            self._seen[entry] = _Seen(info.st_size, info.st_mtime_ns, now)
            if self.settle_s > 0:
                return False
        elif now - seen.since < self.settle_s:
            return False
        del self._seen[entry]
        present.discard(entry)
        return True

    async def _take_in_turn(self, path: Path, info: os.stat_result) -> bool:
        """:meth:`take`, once a place among the big or the small manifests is free."""
        async with self._big if info.st_size > BIG_BYTES else self._small:
            return await self.take(path)

    def _collect(self) -> int:
        """Forget the takes that have ended; how many of them brought new jobs (and wake
        whoever waits for new jobs when any did)."""
        taken = 0
        for path, task in list(self._taking.items()):
            if task.done():
                del self._taking[path]
                taken += 1 if not task.cancelled() and task.result() else 0
        if taken and self.on_accepted is not None:
            self.on_accepted()
        return taken

    async def settled(self) -> int:
        """Wait for every manifest being taken; how many of them brought new jobs."""
        if self._taking:
            await asyncio.wait(list(self._taking.values()))
        return self._collect()

    async def aclose(self) -> None:
        """Stop the takes in flight (each rolls back in the store; its file stays in the
        inbox, taken at the next start)."""
        for task in self._taking.values():
            task.cancel()
        await asyncio.gather(*self._taking.values(), return_exceptions=True)
        self._taking.clear()

    async def take(self, path: Path) -> bool:
        """Load one manifest into the store, or move it aside with its problems; True when
        it brought new jobs. Never raises for anything the file holds."""
        try:
            return await self._take(path)
        except Exception as exc:
            # A bug of ours: said once with its traceback, and the file set aside with it,
            # never taken again in a loop.
            log.error("manifest.error", path=str(path), error=str(exc), exc_info=True)
            internal = (
                f"internal error while taking the manifest ({type(exc).__name__}); "
                "the traceback is in the daemon's log (manifest.error)"
            )
            await self.reject(path, [Problem(str(path), internal)])
            return False

    async def _take(self, path: Path) -> bool:
        read = await self._read(path)
        if read is None:
            return False
        reading, digest = read
        destination = active_path(self.active_dir, digest, path.name)
        again = await asyncio.to_thread(asks_again, path)
        # Its entries are looked at on disk (is each a directory?): not in the loop.
        grows = reading.standing or await asyncio.to_thread(lambda: reading.names_folders)
        # A manifest naming folders leaves out what its earlier runs took (asked once,
        # before its transaction; two takes of one name take turns in the store).
        taken = await self.store.files_taken(reading.name) if grows and not again else set()
        settled = self.clock() - self.watch_settle_s if reading.standing else None
        files = NewFiles(taken, stamped=grows, settled_before=settled)
        added = await self._add(path, reading, digest, destination, files, again or grows)
        if added is None:
            return False
        manifest_id, new = added
        if not new and await self._file_finished(path, manifest_id):
            forget_again(path)
            return False
        # After the store: a crash in between leaves the file here, and the next scan
        # finds it known (by its digest) and moves it then.
        self.active_dir.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(path, destination)
        except FileNotFoundError:
            # A daemon sharing this inbox took the same file in the same instant: the
            # store took it once (by its digest), and that daemon moved it.
            log.info("manifest.taken_elsewhere", path=str(path), manifest_id=manifest_id)
            return False
        forget_again(path)  # after the move: a crash before finds it known
        if new:
            log.info(
                "manifest.accepted",
                manifest=reading.name,
                manifest_id=manifest_id,
                jobs=reading.count - files.left_out - files.unsettled,
                taken_before=files.left_out,
                again=again,
                standing=reading.standing,
                path=str(destination),
            )
        else:
            log.info("manifest.already_known", manifest=reading.name, manifest_id=manifest_id)
        return new

    async def _read(self, path: Path) -> tuple[ManifestReading, str] | None:
        """The manifest's reading and digest; None when it is gone or was rejected."""
        data, problem = await asyncio.to_thread(read_yaml_bytes, path, follow_symlinks=False)
        if data is None:
            assert problem is not None
            if not await asyncio.to_thread(os.path.lexists, path):
                # Another daemon watching the same inbox took it first.
                log.info("manifest.taken_elsewhere", path=str(path))
                return None
            if problem.message.startswith("cannot read") and not await asyncio.to_thread(
                os.access, path, os.R_OK
            ):
                # Placed by another user without the inbox's group: say how to share it.
                problem = Problem(str(path), UNREADABLE)
            await self.reject(path, [problem])
            return None
        reading = await asyncio.to_thread(ManifestReading, path, self.roots, data)
        if reading.problems or not reading.readable:
            # Its top level is wrong already: the store is not asked, the rest only read.
            await self.reject(path, await asyncio.to_thread(every_problem, reading))
            return None
        if self.hook_policy is not None:
            refused = refusals(path, reading.on_finish, self.hook_policy)
            if refused:
                await self.reject(path, refused)
                return None
        return reading, hashlib.sha256(data).hexdigest()

    async def _add(
        self,
        path: Path,
        reading: ManifestReading,
        digest: str,
        destination: Path,
        files: NewFiles,
        rerun: bool,
    ) -> tuple[int, bool] | None:
        """The manifest and its jobs (those ``files`` lets through) into the store: its
        id, and whether it is new (with ``rerun``, a new run of a file whose last run has
        finished); None when it was rejected."""
        try:
            # The jobs go in as the entries are expanded, in batches, in one transaction:
            # a problem found on the way rolls back the whole manifest.
            return await self.store.add_manifest(
                reading.name,
                str(destination),
                digest,
                files.jobs(reading.accepted_jobs()),
                self.clock(),
                node=self.node,
                on_finish=None if reading.on_finish is None else reading.on_finish.spec,
                rerun=rerun,
                standing=reading.standing,
            )
        except UserInputError as exc:
            await self.reject(path, exc.problems)
        except ManifestConflict as exc:
            rest = await asyncio.to_thread(every_problem, reading)
            await self.reject(path, [Problem(str(path), str(exc), field="name"), *rest])
        return None

    async def _file_finished(self, path: Path, manifest_id: int) -> bool:
        """A copy of a manifest that has finished already goes straight where the first
        went (``processed/`` or ``failed/``): nothing is run again, and nothing waits in
        ``.active/`` for a finish that has happened. True when it was filed."""
        known = next((m for m in await self.store.manifests() if m.id == manifest_id), None)
        if known is None or not known.finished:
            return False
        filed = await file_finished(known, self.processed, self.failed, source=path)
        log.info(
            "manifest.already_finished",
            manifest=known.name,
            manifest_id=manifest_id,
            report=known.report_path,
            manifest_file=str(filed),
        )
        return True

    async def reject(self, path: Path, problems: list[Problem]) -> None:
        """Move a bad manifest to the failed directory with a ``.problems.txt`` beside it.

        The report is written first: a crash in between leaves the manifest in the inbox,
        rejected again at the next scan. When the move fails too (the failed directory
        is not writable, say), the file is set aside until it changes.
        """
        shown = summarize(problems, LOG_PROBLEMS)
        try:
            self.failed.mkdir(parents=True, exist_ok=True)
            # Room for the report's suffix and for a number that keeps the name unique.
            name = fit_name(path.name, len(PROBLEMS_SUFFIX) + 8)
            target = unique_destination(self.failed, name)
            report = report_text(problems)
            await asyncio.to_thread(write_report, problems_path(target), report)
            os.replace(path, target)
        except FileNotFoundError:
            # Another daemon watching the same inbox took it first.
            with contextlib.suppress(OSError):
                problems_path(target).unlink()
            log.info("manifest.taken_elsewhere", path=str(path))
            return
        except OSError as exc:
            with contextlib.suppress(OSError):
                self._set_aside[path] = _signature(await asyncio.to_thread(os.lstat, path))
            log.error(
                "manifest.set_aside",
                path=str(path),
                error=f"cannot move it to {self.failed}: {exc.strerror or exc}",
                problem_count=len(problems),
                problems=shown,
            )
            return
        log.error(
            "manifest.rejected",
            path=str(path),
            moved_to=str(target),
            problem_count=len(problems),
            problems=shown,
        )
