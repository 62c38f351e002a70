"""YAML job manifests -> job specs: the top level (name, base_dir, defaults, jobs).

A manifest is read in two steps: its top level at once, then its entries one by one
(``intake.entries``), each expanded into jobs as they are found, without opening any
audio; a directory of 100,000 files is never held as a list. ``validate`` then probes
each local file (``intake.audiocheck``) as it comes. Every problem is reported at once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from orchestrator.config.yamlfile import compose_bytes, compose_file
from orchestrator.config.yamlload import Reader, Section, join_path
from orchestrator.core.apis import ApiCatalogue
from orchestrator.core.errors import Problem, UserInputError
from orchestrator.core.output_options import OutputOptions
from orchestrator.core.settings import RecognitionSettings
from orchestrator.intake.audiocheck import check_job_audio
from orchestrator.intake.entries import EntryReader
from orchestrator.intake.jobspec import Choices, JobSpec, Manifest
from orchestrator.intake.on_finish import ManifestHooks, read_manifest_hooks
from orchestrator.intake.output_options import OUTPUT_KEYS, read_output_options
from orchestrator.intake.preparation import Preparation
from orchestrator.intake.roots import InputRoots
from orchestrator.intake.settings import SETTING_KEYS, read_settings
from orchestrator.speechkit.catalogue import CATALOGUE

# The top-level keys; each is read by ManifestReading._read_top.
TOP_KEYS = ("name", "base_dir", "defaults", "jobs", "on_finish", "watch", "bad_files")
# `bad_files:` what validate and submit do with files the daemon would fail: refuse the
# manifest, or let the rest go with the bad files listed as warnings.
BAD_FILES = ("refuse", "skip")

# Reading stops once this many problems are found (a report shows the first 1,000).
MAX_PROBLEMS = 10_000
_NAME_RE = re.compile(r"[A-Za-z0-9._-]+")


def _name(r: Reader, top: Section) -> str:
    """The manifest's name (required, safe for file names and logs)."""
    if "name" not in top:
        r.problem(top.node, "name", "missing: the manifest's name, like calls-2024-05")
        return ""
    value = top.optional_string("name") or ""
    if value and (not _NAME_RE.fullmatch(value) or value in (".", "..") or len(value) > 100):
        r.problem(
            top.node_of("name"),
            "name",
            "must be 1-100 characters of A-Z, a-z, 0-9, '.', '_' and '-'",
        )
    return value


def _base_dir(r: Reader, top: Section, manifest_dir: Path) -> Path:
    """``base_dir:`` resolved (relative to the manifest's directory), or that directory."""
    raw = top.optional_string("base_dir")
    if raw is None:
        return manifest_dir
    node = top.node_of("base_dir")
    if "\0" in raw:
        r.problem(node, "base_dir", "contains a NUL byte")
        return manifest_dir
    try:
        candidate = Path(raw).expanduser()
    except RuntimeError:  # `~name` of a user this system does not know
        r.problem(node, "base_dir", f"cannot use {raw}: no home directory for its ~user")
        return manifest_dir
    candidate = candidate if candidate.is_absolute() else manifest_dir / candidate
    try:
        is_dir = candidate.is_dir()
    except OSError as exc:  # a name too long, a loop of symlinks...
        r.problem(node, "base_dir", f"cannot use {raw}: {exc.strerror or exc}")
        return manifest_dir
    if not is_dir:
        r.problem(node, "base_dir", f"not a directory: {raw}")
        return manifest_dir
    return Path(os.path.normpath(candidate.absolute()))


def by_line(problems: list[Problem]) -> list[Problem]:
    """``problems`` sorted by line, so that they read top to bottom like the file."""
    return sorted(problems, key=lambda p: p.line or 0)


class ManifestReading:
    """One manifest being read: its top level at once, its jobs as they are expanded.

    ``problems`` holds every problem found so far: all of them once :meth:`jobs` (or
    :meth:`accepted_jobs`) has been run to its end. ``readable`` is False when not even
    the top level could be read (bad YAML, an empty file, not a mapping).
    """

    def __init__(
        self,
        path: Path,
        roots: InputRoots | None,
        data: bytes | None = None,
        apis: ApiCatalogue = CATALOGUE,
    ) -> None:
        self.path = path
        self.apis = apis  # what each job's API takes
        self.name = ""
        self.readable = False
        self.count = 0  # jobs yielded so far
        self.on_finish: ManifestHooks | None = None  # its own completion hooks
        self.standing = False  # `watch: true`: it takes new files until it is closed
        self.skip_bad_files = False  # `bad_files: skip`
        self._r = Reader(str(path))
        self._own: list[Problem] = []  # found before any YAML could be read
        self._nodes: list[yaml.Node] = []
        self._defaults = Choices()
        self._entries: EntryReader | None = None
        # No aliases: each would be its whole entry again, read and expanded again.
        if data is None:
            root, problem = compose_file(path, aliases=False)
        else:
            root, problem = compose_bytes(data, str(path), aliases=False)
        if problem is not None:
            self._own.append(problem)
        elif root is None or self._r.is_null(root):
            self._own.append(Problem(str(path), "manifest is empty (needs name and jobs)"))
        else:
            self._read_top(root, roots)

    def _read_top(self, root: yaml.Node, roots: InputRoots | None) -> None:
        r = self._r
        top = r.section(root, "", TOP_KEYS, nullable=False)
        if top.node is None:
            return
        self.readable = True
        top.reject_unknown()
        self.name = _name(r, top)
        self.standing = top.boolean("watch", False)
        self.skip_bad_files = top.choice("bad_files", "refuse", BAD_FILES) == "skip"
        base_dir = _base_dir(r, top, self.path.absolute().parent)
        entries = EntryReader(r, base_dir, roots, self.apis, self.standing)
        self._entries = entries
        defaults_sec = top.section("defaults", (*SETTING_KEYS, *OUTPUT_KEYS))
        defaults_sec.reject_unknown()
        # A manifest that names no API uses the catalogue's first.
        base = RecognitionSettings(api=self.apis.default.name)
        settings = read_settings(r, defaults_sec, base, self.apis, entries.max_priority)
        options = read_output_options(r, defaults_sec, OutputOptions(), settings, self.apis)
        self._defaults = Choices(settings, options)
        self.on_finish = read_manifest_hooks(top)
        jobs_node = top.node_of("jobs")
        if jobs_node is None or r.is_null(jobs_node):
            r.problem(jobs_node or top.node, "jobs", "missing: the list of audio to recognise")
            return
        nodes = r.sequence(jobs_node, "jobs")
        if nodes is not None and not nodes:
            r.problem(jobs_node, "jobs", "is empty: give at least one entry")
        self._nodes = nodes or []

    @property
    def names_folders(self) -> bool:
        """Whether an entry names a glob or a directory: submitted again, the manifest
        takes the files its earlier runs did not (see ``intake.runs``)."""
        return bool(self.folders())

    def folders(self) -> list[Path]:
        """The folders its entries name (directories, globs' leading ones), before
        :meth:`jobs` is run."""
        entries = self._entries
        if entries is None:
            return []
        found = (entries.folder_of(node) for node in self._nodes)
        return [folder for folder in found if folder is not None]

    @property
    def problems(self) -> list[Problem]:
        """Every problem found so far, by line."""
        return by_line(self._own + self._r.problems)

    def jobs(self) -> Iterator[JobSpec]:
        """Every job of the valid entries, as it is found (a reading is run once)."""
        entries, nodes = self._entries, self._nodes
        self._nodes = []
        if entries is None:
            return
        for index, node in enumerate(nodes):
            for job in entries.entry(index, node, self._defaults):
                self.count += 1
                yield job
            if len(self._r.problems) >= MAX_PROBLEMS and index + 1 < len(nodes):
                # Enough to fix first: the rest would cost time and memory for no more.
                self._r.problem(
                    nodes[index + 1],
                    join_path("jobs", index + 1),
                    f"stopped reading after {len(self._r.problems)} problems: the entries "
                    "from here on were not checked",
                )
                return

    def accepted_jobs(self) -> Iterator[JobSpec]:
        """The jobs of a manifest without a problem, for the store: yielded as they are
        found until a problem is; at the end, UserInputError with every problem when
        there is any (a store consuming this rolls back what it took)."""
        found = self._r.problems
        for job in self.jobs():
            if not found:
                yield job
        if self._own or found or not self.readable:
            raise UserInputError(self.problems)


def load_manifest(
    path: Path,
    roots: InputRoots | None = None,
    data: bytes | None = None,
    apis: ApiCatalogue = CATALOGUE,
) -> Manifest:
    """Read a manifest and expand its entries; UserInputError lists every structural problem.

    Audio is not opened here (see ``intake.audiocheck``); relative audio paths resolve
    against ``base_dir:`` or else the manifest's own directory. With ``roots``, every local
    file must be one the daemon may read (see ``intake.roots``). ``data``: the file's
    bytes, when the caller has read them already. The jobs are kept in a tuple:
    :class:`ManifestReading` gives them one by one.
    """
    reading = ManifestReading(path, roots, data, apis)
    jobs = tuple(reading.accepted_jobs())
    return Manifest(name=reading.name, path=path, jobs=jobs, on_finish=reading.on_finish)


@dataclass(frozen=True)
class Validation:
    """What :func:`validate_manifest` found: the manifest's name (None when its structure
    is invalid), how many jobs its valid entries hold, and every problem, by line."""

    path: Path
    name: str | None
    jobs: int
    problems: list[Problem]
    on_finish: ManifestHooks | None = None  # its own completion hooks, when it has any
    # With `bad_files: skip`: the files the daemon will fail, while the rest go.
    warnings: list[Problem] = field(default_factory=list)
    skipped: int = 0  # how many jobs those are

    @property
    def valid(self) -> bool:
        """No problem at all."""
        return self.name is not None and not self.problems


def validate_manifest(
    path: Path,
    roots: InputRoots | None = None,
    on_job: Callable[[JobSpec, Preparation | None], None] | None = None,
    apis: ApiCatalogue = CATALOGUE,
    max_part_s: float | None = None,
) -> Validation:
    """Read a manifest and check the audio of each job as it comes; never an exception.

    The audio of the valid entries is checked even when the structure has problems, so
    one run reports everything. With ``roots``, files outside them are refused, never
    opened. ``on_job`` is told each job and what will be done to its audio (None: not
    probed, or unreadable); nothing else of the jobs is kept. ``max_part_s`` is the
    daemon's ``audio.max_part_s``.
    """
    audio_found: list[Problem] = []
    bad_jobs = 0
    try:
        reading = ManifestReading(path, roots, apis=apis)
        for job in reading.jobs():
            prepared, found = check_job_audio(path, job, apis, max_part_s)
            audio_found.extend(found)
            bad_jobs += 1 if found else 0
            if on_job is not None:
                on_job(job, prepared)
    except Exception as exc:
        # A bug must not cost the user a traceback: the kind of error is enough to report.
        internal = f"internal error while reading the manifest ({type(exc).__name__})"
        return Validation(path, None, 0, [Problem(str(path), internal)])
    structure = reading.problems
    name = reading.name if reading.readable and not structure else None
    # With `bad_files: skip` the bad files are warnings, unless no file is good (the
    # manifest would run nothing).
    if reading.skip_bad_files and 0 < bad_jobs < reading.count:
        return Validation(
            path,
            name,
            reading.count,
            by_line(structure),
            reading.on_finish,
            by_line(audio_found),
            bad_jobs,
        )
    found = by_line(structure + audio_found)
    return Validation(path, name, reading.count, found, reading.on_finish)
