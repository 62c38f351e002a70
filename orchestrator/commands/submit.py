"""``submit``: validate manifests and hand them to the daemon's inbox, safely."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from orchestrator.commands.common import add_config_argument, read_config
from orchestrator.commands.plan import human_duration
from orchestrator.commands.watching import Frame, Watch
from orchestrator.config import Config
from orchestrator.core.errors import Problem, UserInputError
from orchestrator.core.jobs import ManifestStatus
from orchestrator.core.refs import is_object_uri
from orchestrator.intake.inbox import is_candidate, problems_path
from orchestrator.intake.manifest import ManifestReading, validate_manifest
from orchestrator.intake.on_finish import refusals
from orchestrator.intake.roots import InputRoots
from orchestrator.intake.runs import NewFiles, again_marker, forget_again
from orchestrator.intake.sharing import MANIFEST_MODE, cannot_write, refusal_advice
from orchestrator.outputs.files import TEMP_SUFFIX, temp_prefix, unique_destination
from orchestrator.outputs.report import build_report, render_report_text
from orchestrator.pipeline.settings import settings_from_config
from orchestrator.service.watching import Progress, ProgressReader
from orchestrator.speechkit.catalogue import CATALOGUE
from orchestrator.store import Store, StoreError, open_store

# How long a manifest may wait in the inbox before --wait says no daemon seems to read it.
INTAKE_TIMEOUT_S = 30.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``submit`` subcommand."""
    parser = sub.add_parser(
        "submit",
        help="validate manifests and put them in the daemon's inbox",
        description="Validate each manifest, then place it in the inbox with an atomic rename, "
        "so a running daemon never reads half a file and a stopped one finds it at start. "
        "Relative audio paths keep pointing where they did (base_dir is recorded).",
    )
    add_config_argument(parser)
    parser.add_argument("manifests", nargs="+", type=Path, metavar="MANIFEST")
    parser.add_argument(
        "--wait",
        action="store_true",
        help="then show the progress until every manifest has ended; exit 0 when every job "
        "is done, 1 when some failed, 2 when the daemon refused a manifest (Ctrl-C stops "
        "the watching, not the batch)",
    )
    parser.add_argument(
        "--again",
        action="store_true",
        help="take every file again as a new run; without it, a manifest naming folders or "
        "globs that has run before takes only the files its earlier runs did not (new or "
        "changed ones)",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="with --wait: how often to look (default: 1 s; off a terminal, a manifest's "
        "line at most every 10 s, its end at once)",
    )
    parser.add_argument(
        "--intake-timeout",
        type=float,
        default=INTAKE_TIMEOUT_S,
        metavar="SECONDS",
        help="with --wait: say so when no daemon has taken a manifest in after this long "
        f"(default {INTAKE_TIMEOUT_S:g}); the waiting goes on",
    )
    parser.set_defaults(handler=run)


def with_base_dir(text: str, manifest: Path) -> str:
    """The manifest's text with ``base_dir`` set to its directory when it has none.

    The key is appended, so line numbers in later messages still match the user's file.
    """
    data = yaml.safe_load(text)
    if isinstance(data, dict) and "base_dir" in data:
        base = Path(str(data["base_dir"]))
        if base.is_absolute():
            return text
        resolved = (manifest.resolve().parent / base).resolve()
        data["base_dir"] = str(resolved)
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    separator = "" if text.endswith("\n") else "\n"
    quoted = json.dumps(str(manifest.resolve().parent))  # a JSON string is a YAML scalar
    return f"{text}{separator}base_dir: {quoted}\n"


def place(inbox: Path, manifest: Path, text: str, again: bool = False) -> Path:
    """Write ``text`` to the inbox under the manifest's name: temporary file, then rename;
    with ``again``, its marker asking for every file goes first (the daemon sees both)."""
    inbox.mkdir(parents=True, exist_ok=True)
    target = unique_destination(inbox, manifest.name)
    if again:
        again_marker(target).write_bytes(b"")
    else:
        forget_again(target)  # one left by a submit that stopped halfway
    fd, tmp = tempfile.mkstemp(dir=inbox, prefix=temp_prefix(target.name), suffix=TEMP_SUFFIX)
    try:
        # Readable by the inbox's group (which a setgid inbox gives it), through which a
        # daemon running as another user reads it; never by others.
        os.fchmod(fd, MANIFEST_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def run(args: argparse.Namespace) -> int:
    """Validate every manifest first; place them only if all are valid."""
    config = read_config(args, resolve_secrets=False)
    roots = InputRoots.of(config)
    problems = []
    for path in args.manifests:
        # The daemon checks the roots again when it takes the manifest: this is a courtesy.
        found = validate_manifest(path, roots, max_part_s=config.audio.max_part_s)
        problems.extend(found.problems)
        for warning in found.warnings:
            print(f"warning: {warning} (bad_files: skip)", file=sys.stderr)
        problems.extend(refusals(path, found.on_finish, config.hooks.policy))
    if problems:
        raise UserInputError(problems)
    for line in asyncio.run(preview_runs(config, args.manifests, args.again)):
        print(line, flush=True)
    placed: list[Submitted] = []
    try:
        for path in args.manifests:
            text = with_base_dir(path.read_text("utf-8"), path)
            try:
                target = place(config.paths.inbox, path, text, args.again)
            except OSError as exc:
                problem = Problem(str(path), cannot_write(config.paths.inbox, exc))
                raise UserInputError([problem]) from None
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
            placed.append(Submitted(path, target, digest))
            print(f"submitted {path} -> {target}", flush=True)
        if not args.wait:
            return 0
        return asyncio.run(wait(config, placed, args.interval, args.intake_timeout))
    except (KeyboardInterrupt, asyncio.CancelledError):
        # Ctrl-C cancels the watching task: asyncio.run raises KeyboardInterrupt, or the
        # CancelledError itself when the task was cancelled more than that once.
        if not placed:
            raise
        print(
            "stopped watching; the manifests go on (speechkit-orchestrator status --watch)",
            file=sys.stderr,
        )
        return 130


async def preview_runs(config: Config, manifests: list[Path], again: bool) -> list[str]:
    """What the daemon will take of each manifest naming folders that has run before:
    a line each (none when the store cannot be read, or does not exist yet)."""
    try:
        # An operator of the inbox's group may not even see the daemon's state directory.
        if config.state.url is None and not config.paths.state_file.exists():
            return []
        store = await open_store(config)
    except (StoreError, OSError):
        return []  # the daemon will say what it takes
    try:
        return [line for path in manifests if (line := await _preview(store, config, path, again))]
    finally:
        await store.close()


async def _preview(store: Store, config: Config, path: Path, again: bool) -> str | None:
    """The line for one manifest (None: it names no folder, or has not run before)."""
    reading = ManifestReading(path, InputRoots.of(config))
    if not reading.readable or not (reading.standing or reading.names_folders):
        return None
    taken = await store.files_taken(reading.name)
    if not taken:
        return None
    files = NewFiles(set() if again else taken)
    count = await asyncio.to_thread(lambda: sum(1 for _ in files.jobs(reading.jobs())))
    if again:
        return f"{path}: a new run of {reading.name} taking all {count} files again"
    return (
        f"{path}: a new run of {reading.name} taking {count} new or changed files; "
        f"{files.left_out} taken by earlier runs are left out (--again takes them all)"
    )


@dataclass
class Submitted:
    """A manifest placed in the inbox, and what became of it."""

    source: Path
    placed: Path
    digest: str  # of the bytes placed: the daemon finds the same
    manifest_id: int | None = None
    refused: str | None = None  # the daemon's problems report
    warned: bool = False


def _refusal(failed: Path, item: Submitted) -> str | None:
    """The problems report of a manifest the daemon moved to ``failed/``, found by content."""
    if not failed.is_dir():
        return None
    for candidate in sorted(failed.iterdir()):
        if not is_candidate(candidate) or not problems_path(candidate).exists():
            continue
        try:
            if hashlib.sha256(candidate.read_bytes()).hexdigest() == item.digest:
                return problems_path(candidate).read_text("utf-8", errors="replace")
        except OSError:
            continue
    return None


async def _resolve(
    store: Store, config: Config, placed: list[Submitted], elapsed: float, say_after: float
) -> list[str]:
    """Find each placed manifest in the store (by its digest) or in ``failed/``; lines about
    those still in the inbox."""
    pending = [item for item in placed if item.manifest_id is None and item.refused is None]
    # Which have left the inbox, looked at before the store is read: the daemon records a
    # manifest before it moves the file, so the read then holds the run each was taken as
    # (read first, a run of the same bytes taken meanwhile would pass for an earlier one).
    taken = {id(item) for item in pending if not item.placed.exists()}
    by_digest: dict[str, int] = {}
    for manifest in await store.manifests() if taken else ():
        by_digest[manifest.digest] = max(manifest.id, by_digest.get(manifest.digest, 0))
    waiting = []
    for item in pending:
        if id(item) in taken:
            # Taken (the store first, then the move): its newest run, a new one or the one
            # still active that it joined; else refused.
            item.manifest_id = by_digest.get(item.digest)
            if item.manifest_id is None:
                item.refused = await asyncio.to_thread(_refusal, config.paths.failed, item)
            continue
        waiting.append(
            f"{item.source}: waiting in {item.placed.parent} ({human_duration(elapsed)})"
        )
        if elapsed >= say_after and not item.warned:
            item.warned = True
            print(
                f"warning: {item.source}: no daemon has taken it in from "
                f"{item.placed.parent} after {human_duration(elapsed)}: is the daemon running "
                f"with this config ({config.source})? Still waiting; Ctrl-C stops waiting "
                "(the manifest stays in the inbox)",
                file=sys.stderr,
                flush=True,
            )
    return waiting


def unwatchable(config: Config, placed: list[Submitted], exc: Exception) -> Problem:
    """Why --wait cannot watch the manifests just placed: they are submitted all the same."""
    cause = exc if isinstance(exc, OSError) else exc.__cause__
    if not isinstance(cause, PermissionError):
        return Problem(config.source, str(exc), field="state")
    names = ", ".join(str(item.placed) for item in placed)
    return Problem(
        config.source,
        f"submitted ({names}), but cannot watch: the state store is the daemon's alone "
        f"({cause.strerror}: {cause.filename}); watch with `sudo speechkit-orchestrator status "
        "--watch` or on the status page",
        field="state",
    )


async def wait(
    config: Config, placed: list[Submitted], interval: float | None, intake_timeout: float
) -> int:
    """Watch the placed manifests until they have all ended; print each report's summary."""
    try:
        store = await open_store(config)
    except (StoreError, OSError) as exc:
        raise UserInputError([unwatchable(config, placed, exc)]) from None
    reader = ProgressReader(store, settings_from_config(config))
    console = Console()
    started = asyncio.get_running_loop().time()
    title = "speechkit-orchestrator: submit --wait (Ctrl-C stops watching, not the batch)"

    async def look(now: float) -> Frame:
        elapsed = asyncio.get_running_loop().time() - started
        waiting = await _resolve(store, config, placed, elapsed, intake_timeout)
        ids = {item.manifest_id for item in placed if item.manifest_id is not None}
        progress = await reader.read(lambda m: m.id in ids, now)
        refused = [item for item in placed if item.refused is not None]
        done = len(ids) + len(refused) == len(placed) and all(p.finished for p in progress)
        return Frame(progress, waiting, done)

    try:
        frame = await Watch(console, title, interval).run(look)
        return await _summaries(store, placed, frame.progress, config.paths.inbox)
    finally:
        await store.close()


async def _summaries(
    store: Store, placed: list[Submitted], progress: list[Progress], inbox: Path
) -> int:
    """Print each report's summary (and each refusal, with what to do); the exit status."""
    status = 0
    for item in placed:
        if item.refused is not None:
            print(f"\n{item.source}: refused by the daemon:\n{item.refused}", end="")
            advice = refusal_advice(item.refused, inbox)
            if advice is not None:
                print(advice)
            status = 2
    manifests = await store.manifests()
    for entry in progress:
        report = await _report(store, entry)
        print(f"\nreport: {entry.report_path}")
        run = _run_line(manifests, entry.id)
        if run is not None:
            print(run)
        print(render_report_text(report), end="")
        if report["failures"] and status == 0:
            status = 1
    return status


def _run_line(manifests: list[ManifestStatus], manifest_id: int) -> str | None:
    """Which run of its file a manifest is, and how many files it took (None: the first)."""
    me = next(m for m in manifests if m.id == manifest_id)
    runs = [m for m in manifests if (m.name, m.digest) == (me.name, me.digest) and m.id <= me.id]
    if runs[0] is me:  # a first run says nothing more
        return None
    return f"run {len(runs)} of {me.name}: {me.total} files taken"


async def _report(store: Store, entry: Progress) -> dict[str, Any]:
    """The manifest's report as written; rebuilt from the store (the same function, the
    same inputs) when it is an object in storage or cannot be read."""
    path = entry.report_path
    if path and not is_object_uri(path):
        try:
            text = await asyncio.to_thread(Path(path).read_text, "utf-8")
            found: dict[str, Any] = json.loads(text)
            return found
        except (OSError, ValueError):
            pass
    manifest = next(m for m in await store.manifests() if m.id == entry.id)
    jobs = await store.manifest_jobs(entry.id)
    parts = await store.manifest_parts(entry.id)
    finished = manifest.finished_at or entry.created_at
    return build_report(manifest, jobs, finished, CATALOGUE, parts)
