"""YAML job manifests -> job specs: defaults, per-job overrides, files, globs, directories, S3.

A manifest is checked in two steps: :func:`load_manifest` reads the YAML and expands the
entries into jobs without opening any audio (every structural problem at once);
:func:`check_audio` then probes each local file.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from orchestrator.config.yamlload import (
    Reader,
    Section,
    compose_bytes,
    compose_file,
    join_path,
    line_of,
)
from orchestrator.core.apis import audio_problems, source_problem
from orchestrator.core.audio import AudioFacts
from orchestrator.core.errors import Problem, UserInputError
from orchestrator.core.refs import ObjectRef, is_object_uri
from orchestrator.core.settings import RecognitionSettings
from orchestrator.intake.audio import AudioError, probe
from orchestrator.intake.globbing import (
    MAX_VISITS,
    TooManyEntries,
    directory_files,
    glob_files,
    split_glob,
)
from orchestrator.intake.on_finish import ManifestHooks, read_manifest_hooks
from orchestrator.intake.roots import InputRoots
from orchestrator.intake.settings import SETTING_KEYS, read_settings

JOB_KEYS = ("audio", "output", "include", *SETTING_KEYS)
TOP_KEYS = ("name", "base_dir", "defaults", "jobs", "on_finish")
# What a directory entry picks up when it has no `include:`; raw LPCM only when declared.
AUDIO_PATTERNS = ("*.ogg", "*.opus", "*.mp3", "*.wav")
RAW_PATTERNS = ("*.pcm", "*.raw")

_NAME_RE = re.compile(r"^[A-Za-z0-9._-]+$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class JobSpec:
    """One audio file to recognise and where its transcript goes."""

    source: str  # absolute local path, or "s3://bucket/key"
    output: str  # relative output path without extension; no "..", not absolute
    settings: RecognitionSettings
    line: int | None  # manifest line of the entry that produced it

    @property
    def is_s3(self) -> bool:
        """True when the audio is already in object storage."""
        return is_object_uri(self.source)


@dataclass(frozen=True)
class Manifest:
    """A validated manifest: its name, file and expanded jobs."""

    name: str  # safe: [A-Za-z0-9._-]+
    path: Path
    jobs: tuple[JobSpec, ...]
    on_finish: ManifestHooks | None = None  # its own completion hooks (intake.on_finish)


def safe_output_problem(output: str) -> str | None:
    """Why ``output`` is not a safe relative output path, or None when it is."""
    if "\0" in output:
        return "contains a NUL byte"
    if _CONTROL_RE.search(output):
        return "contains a control character"
    if output.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", output):
        return "must be a relative path, not absolute"
    if ".." in re.split(r"[/\\]", output):
        return "must not contain '..' (it would escape the output directory)"
    if str(PurePosixPath(output)) in ("", "."):
        return "must not be empty"
    return None


def _normal_output(output: str) -> str:
    """``./a//b/`` -> ``a/b``."""
    return str(PurePosixPath(output))


def _strip_extension(rel: str) -> str:
    path = PurePosixPath(rel)
    return str(path.with_suffix("")) if path.suffix else str(path)


def _relative_to(path: Path, root: Path) -> str | None:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return None


class _ManifestReader:
    """One manifest load: reads the YAML and expands entries, collecting every problem."""

    def __init__(self, reader: Reader, path: Path, roots: InputRoots | None) -> None:
        self.r = reader
        self.path = path
        self.roots = roots
        self.manifest_dir = path.absolute().parent
        self.base_dir = self.manifest_dir
        # output -> (line, source) of the first job that produced it
        self.outputs: dict[str, tuple[int | None, str]] = {}

    def settings(self, sec: Section, base: RecognitionSettings) -> RecognitionSettings:
        """``base`` with the setting keys present in ``sec`` applied (``intake.settings``)."""
        return read_settings(self.r, sec, base)

    def base(self, top: Section) -> None:
        """Resolve ``base_dir:`` (relative to the manifest's directory)."""
        raw = top.optional_string("base_dir")
        if raw is None:
            return
        node = top.node_of("base_dir")
        if "\0" in raw:
            self.r.problem(node, "base_dir", "contains a NUL byte")
            return
        candidate = Path(raw).expanduser()
        candidate = candidate if candidate.is_absolute() else self.manifest_dir / candidate
        try:
            is_dir = candidate.is_dir()
        except OSError as exc:  # a name too long, a loop of symlinks...
            self.r.problem(node, "base_dir", f"cannot use {raw}: {exc.strerror or exc}")
            return
        if not is_dir:
            self.r.problem(node, "base_dir", f"not a directory: {raw}")
            return
        self.base_dir = Path(os.path.normpath(candidate.absolute()))

    def name(self, top: Section) -> str:
        """The manifest's name (required, safe for file names and logs)."""
        if "name" not in top:
            self.r.problem(top.node, "name", "missing: the manifest's name, like calls-2024-05")
            return ""
        value = top.optional_string("name") or ""
        if value and (not _NAME_RE.match(value) or value in (".", "..") or len(value) > 100):
            self.r.problem(
                top.node_of("name"),
                "name",
                "must be 1-100 characters of A-Z, a-z, 0-9, '.', '_' and '-'",
            )
        return value

    def entry(self, index: int, node: yaml.Node, defaults: RecognitionSettings) -> list[JobSpec]:
        """Expand one `jobs:` entry into job specs."""
        path = join_path("jobs", index)
        if isinstance(node, yaml.ScalarNode) and not self.r.is_null(node):
            # Shorthand: `- calls/a.ogg` is `- audio: calls/a.ogg`.
            audio = self.r.string(node, join_path(path, "audio"))
            if audio is None:
                return []
            return self.expand(audio, node, None, None, path, defaults, line_of(node))
        sec = self.r.section(node, path, JOB_KEYS, nullable=False)
        if sec.node is None:
            return []
        sec.reject_unknown()
        settings = self.settings(sec, defaults)
        if "audio" not in sec:
            self.r.problem(
                node, join_path(path, "audio"), "missing: a file, glob, directory or s3://"
            )
            return []
        audio = sec.optional_string("audio")
        if audio is None:
            return []
        include = self.include(sec, settings)
        return self.expand(audio, sec.node_of("audio"), sec, include, path, settings, sec.line)

    def expand(
        self,
        audio: str,
        audio_node: yaml.Node | None,
        sec: Section | None,
        include: tuple[str, ...] | None,
        path: str,
        settings: RecognitionSettings,
        line: int | None,
    ) -> list[JobSpec]:
        """Turn one `audio:` value into jobs; a path the filesystem refuses (a name too
        long, a loop of symlinks) is a problem of this entry, not of the whole load."""
        try:
            return self._expand(audio, audio_node, sec, include, path, settings, line)
        except TooManyEntries:
            self.r.problem(
                audio_node,
                join_path(path, "audio"),
                f"{audio!r} looks at more than {MAX_VISITS} files and directories; "
                "name a narrower glob or directory",
            )
            return []
        except OSError as exc:
            self.r.problem(
                audio_node,
                join_path(path, "audio"),
                f"cannot use {audio!r}: {exc.strerror or type(exc).__name__}",
            )
            return []

    def include(self, sec: Section, settings: RecognitionSettings) -> tuple[str, ...] | None:
        """The entry's `include:` patterns (a string or a list), or None when absent."""
        node = sec.node_of("include")
        if node is None or self.r.is_null(node):
            return None
        field = sec.field("include")
        items = [node] if isinstance(node, yaml.ScalarNode) else self.r.sequence(node, field)
        if items is None:
            return None
        patterns = []
        for i, item in enumerate(items):
            pattern = self.r.string(item, join_path(field, i))
            if pattern is not None:
                patterns.append(pattern)
        return tuple(patterns)

    def _expand(
        self,
        audio: str,
        audio_node: yaml.Node | None,
        sec: Section | None,
        include: tuple[str, ...] | None,
        path: str,
        settings: RecognitionSettings,
        line: int | None,
    ) -> list[JobSpec]:
        """Turn one `audio:` value into jobs: S3 object, glob, directory or single file."""
        audio_field = join_path(path, "audio")
        output_node = None if sec is None else sec.node_of("output")
        output = None if sec is None else sec.optional_string("output")
        if "\0" in audio:
            self.r.problem(audio_node, audio_field, "contains a NUL byte")
            return []
        if is_object_uri(audio):
            return self.s3(audio, audio_node, output, output_node, include, sec, path, settings)
        local = Path(audio).expanduser()
        absolute = local if local.is_absolute() else self.base_dir / local
        is_glob = glob.has_magic(audio)
        if self.roots is not None:
            # Checked before anything outside the roots is looked at, even its name.
            walked = split_glob(audio, self.base_dir)[0] if is_glob else absolute
            refused = self.roots.refusal(walked)
            if refused is not None:
                self.r.problem(audio_node, audio_field, refused)
                return []
        is_dir = not is_glob and absolute.is_dir()
        if (is_glob or is_dir) and output_node is not None:
            what = "a glob" if is_glob else "a directory"
            self.r.problem(
                output_node,
                join_path(path, "output"),
                f"only for a single file; the audio here is {what}",
            )
        if include is not None and not is_dir and sec is not None:
            self.r.problem(
                sec.node_of("include"),
                join_path(path, "include"),
                "only for a directory entry",
            )
        if is_glob:
            found = self.glob(audio)
            what = f"the glob {audio!r} matches no file"
        elif is_dir:
            patterns = include if include else self.default_patterns(settings)
            found = self.walk(absolute, patterns)
            what = f"the directory {audio!r} holds no file matching {', '.join(patterns)}"
        else:
            file = Path(os.path.normpath(absolute.absolute()))
            rel = _relative_to(file, self.base_dir) or file.name
            derived = output if output is not None else _strip_extension(rel)
            field = join_path(path, "output" if output is not None else "audio")
            node = output_node if output is not None else audio_node
            job = self.job(str(file), derived, node, field, settings, line)
            return [] if job is None else [job]
        if not found:
            self.r.problem(audio_node, audio_field, what)
            return []
        jobs = []
        for file, rel in found:
            job = self.job(
                str(file), _strip_extension(rel), audio_node, audio_field, settings, line
            )
            if job is not None:
                jobs.append(job)
        return jobs

    def default_patterns(self, settings: RecognitionSettings) -> tuple[str, ...]:
        """Supported extensions; raw LPCM ones only when the encoding is declared."""
        if settings.encoding == "LINEAR16_PCM":
            return AUDIO_PATTERNS + RAW_PATTERNS
        return AUDIO_PATTERNS

    def glob(self, pattern: str) -> list[tuple[Path, str]]:
        """Files matching a glob (``**`` recursive), each with its output-relative path."""
        root, files = glob_files(pattern, self.base_dir)
        found = []
        for match in files:
            file = Path(os.path.normpath(match.absolute()))
            rel = _relative_to(file, self.base_dir) or _relative_to(file, root) or file.name
            found.append((file, rel))
        return found

    def walk(self, directory: Path, patterns: Sequence[str]) -> list[tuple[Path, str]]:
        """Files under ``directory`` (recursive, hidden ones skipped) matching ``patterns``."""
        directory = Path(os.path.normpath(directory.absolute()))
        found = [
            (file, _relative_to(file, self.base_dir) or inner)
            for file, inner in directory_files(directory, patterns)
        ]
        return sorted(found, key=lambda item: item[1])

    def s3(
        self,
        audio: str,
        audio_node: yaml.Node | None,
        output: str | None,
        output_node: yaml.Node | None,
        include: tuple[str, ...] | None,
        sec: Section | None,
        path: str,
        settings: RecognitionSettings,
    ) -> list[JobSpec]:
        """An object already in storage: checked for shape only, never fetched."""
        try:
            key = ObjectRef.parse(audio).key
        except ValueError as exc:
            self.r.problem(audio_node, join_path(path, "audio"), str(exc))
            return []
        if glob.has_magic(key):
            self.r.problem(
                audio_node, join_path(path, "audio"), "wildcards are not supported in s3:// URIs"
            )
            return []
        if include is not None and sec is not None:
            self.r.problem(
                sec.node_of("include"), join_path(path, "include"), "only for a directory entry"
            )
        problem = source_problem(settings, in_storage=True)
        if problem is not None:
            self.r.problem(audio_node, join_path(path, "audio"), problem)
            return []
        if output is not None:
            derived, node, fld = output, output_node, join_path(path, "output")
        else:
            derived, node, fld = _strip_extension(key), audio_node, join_path(path, "audio")
        job = self.job(audio, derived, node, fld, settings, line_of(audio_node))
        return [] if job is None else [job]

    def job(
        self,
        source: str,
        output: str,
        node: yaml.Node | None,
        field: str,
        settings: RecognitionSettings,
        line: int | None,
    ) -> JobSpec | None:
        """One job, once its source may be read and its output path is known to be safe
        and not taken by another job."""
        if self.roots is not None and not is_object_uri(source):
            refused = self.roots.refusal(Path(source))
            if refused is not None:
                self.r.problem(node, field, refused)
                return None
        reason = safe_output_problem(output)
        if reason is not None:
            self.r.problem(node, field, f"output path {output!r}: {reason}")
            return None
        output = _normal_output(output)
        entry_line = line if line is not None else line_of(node)
        taken = self.outputs.get(output)
        if taken is not None:
            first_line, first_source = taken
            self.r.problem(
                node,
                field,
                f"output {output!r} is produced twice: by {self.show(first_source)} "
                f"(line {first_line}) and by {self.show(source)} (line {entry_line})",
            )
            return None
        self.outputs[output] = (entry_line, source)
        return JobSpec(source=source, output=output, settings=settings, line=entry_line)

    def show(self, source: str) -> str:
        """A source as the user would recognise it: relative to base_dir when inside."""
        if is_object_uri(source):
            return source
        return _relative_to(Path(source), self.base_dir) or source


def _read_manifest(
    path: Path, roots: InputRoots | None, data: bytes | None = None
) -> tuple[Manifest | None, list[Problem]]:
    """The manifest as far as it could be read (jobs of the valid entries) and every problem."""
    reader = Reader(str(path))
    root, problem = compose_file(path) if data is None else compose_bytes(data, str(path))
    if problem is not None:
        return None, [problem]
    if root is None or reader.is_null(root):
        return None, [Problem(str(path), "manifest is empty (needs name and jobs)")]
    state = _ManifestReader(reader, path, roots)
    top = reader.section(root, "", TOP_KEYS, nullable=False)
    if top.node is None:
        return None, reader.problems
    top.reject_unknown()
    name = state.name(top)
    state.base(top)
    defaults_sec = top.section("defaults", SETTING_KEYS)
    defaults_sec.reject_unknown()
    defaults = state.settings(defaults_sec, RecognitionSettings())
    jobs: list[JobSpec] = []
    jobs_node = top.node_of("jobs")
    if jobs_node is None or reader.is_null(jobs_node):
        reader.problem(jobs_node or top.node, "jobs", "missing: the list of audio to recognise")
    else:
        entries = reader.sequence(jobs_node, "jobs")
        if entries is not None and not entries:
            reader.problem(jobs_node, "jobs", "is empty: give at least one entry")
        for index, entry in enumerate(entries or []):
            jobs.extend(state.entry(index, entry, defaults))
    on_finish = read_manifest_hooks(top)
    return Manifest(name=name, path=path, jobs=tuple(jobs), on_finish=on_finish), reader.problems


def _by_line(problems: list[Problem]) -> list[Problem]:
    # Sorted by line so the output reads top to bottom like the file.
    return sorted(problems, key=lambda p: p.line or 0)


def load_manifest(
    path: Path, roots: InputRoots | None = None, data: bytes | None = None
) -> Manifest:
    """Read a manifest and expand its entries; UserInputError lists every structural problem.

    Audio is not opened here (see :func:`check_audio`); relative audio paths resolve against
    ``base_dir:`` or else the manifest's own directory. With ``roots``, every local file
    must be one the daemon may read (see ``intake.roots``). ``data``: the file's bytes,
    when the caller has read them already.
    """
    manifest, problems = _read_manifest(path, roots, data)
    if problems or manifest is None:
        raise UserInputError(_by_line(problems))
    return manifest


def check_audio(manifest: Manifest) -> tuple[dict[str, AudioFacts], list[Problem]]:
    """Probe every local job's file; each problem names the manifest, the entry's line and why."""
    infos: dict[str, AudioFacts] = {}
    problems: list[Problem] = []
    for job in manifest.jobs:
        if job.is_s3:
            continue
        settings = job.settings
        try:
            infos[job.source] = facts = probe(
                Path(job.source),
                encoding=settings.encoding,
                sample_rate=settings.sample_rate,
                channels=settings.channels,
            )
            problems.extend(
                Problem(str(manifest.path), f"{job.source}: {message}", line=job.line, field=field)
                for field, message in audio_problems(settings, facts)
            )
        except AudioError as exc:
            problems.append(Problem(str(manifest.path), str(exc), line=job.line, field="audio"))
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            problems.append(
                Problem(str(manifest.path), f"{job.source}: {reason}", line=job.line, field="audio")
            )
        except Exception as exc:
            # A file the probe could not make sense of in a way nobody foresaw: reported
            # with the kind of error only (its message might quote the file's bytes).
            problems.append(
                Problem(
                    str(manifest.path),
                    f"{job.source}: the file could not be read as audio "
                    f"(internal error {type(exc).__name__})",
                    line=job.line,
                    field="audio",
                )
            )
    return infos, problems


def validate_manifest(
    path: Path, roots: InputRoots | None = None
) -> tuple[Manifest | None, dict[str, AudioFacts], list[Problem]]:
    """Load a manifest and check its audio; every problem found, never an exception.

    The manifest is None when its structure is invalid; the audio of its valid entries is
    checked all the same. With ``roots``, files outside them are refused, never opened.
    """
    try:
        manifest, problems = _read_manifest(path, roots)
    except Exception as exc:
        # A bug must not cost the user a traceback: the kind of error is enough to report.
        internal = f"internal error while reading the manifest ({type(exc).__name__})"
        return None, {}, [Problem(str(path), internal)]
    if manifest is None:
        return None, {}, problems
    # Audio is probed even when the structure has problems, so one run reports everything.
    infos, audio_found = check_audio(manifest)
    valid = manifest if not problems else None
    return valid, infos, _by_line(problems + audio_found)
