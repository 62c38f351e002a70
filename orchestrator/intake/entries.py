"""One `jobs:` entry of a manifest -> job specs: its keys and settings read, its `audio:`
(a file, a glob, a directory or an ``s3://`` object) expanded, and each job's output path
checked (safe, and produced by no other job of the manifest). Every problem is recorded
where it is written; nothing here stops at the first."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from pathlib import Path

import yaml

from orchestrator.config.yamlload import Reader, Section, join_path, line_of
from orchestrator.core.apis import ApiCatalogue, source_problem
from orchestrator.core.refs import ObjectRef, is_object_uri
from orchestrator.core.settings import MAX_PRIORITY
from orchestrator.intake.clashes import OutputNames, Taken
from orchestrator.intake.expand import (
    Matched,
    default_patterns,
    directory_matches,
    glob_matches,
)
from orchestrator.intake.globbing import MAX_VISITS, TooManyEntries, split_glob
from orchestrator.intake.jobspec import (
    Choices,
    JobSpec,
    normal_output,
    relative_to,
    safe_output_problem,
    strip_extension,
)
from orchestrator.intake.output_options import OUTPUT_KEYS, read_output_options
from orchestrator.intake.roots import InputRoots
from orchestrator.intake.settings import SETTING_KEYS, read_settings

JOB_KEYS = ("audio", "output", "include", *SETTING_KEYS, *OUTPUT_KEYS)


class EntryReader:
    """Reads a manifest's entries one by one, remembering the outputs already taken."""

    def __init__(
        self,
        reader: Reader,
        base_dir: Path,
        roots: InputRoots | None,
        apis: ApiCatalogue,
        standing: bool = False,
    ) -> None:
        self.r = reader
        # A standing manifest's folder may be empty yet: the files come later.
        self.standing = standing
        self.apis = apis  # what each job's API takes
        self.base_dir = base_dir  # relative audio paths resolve against it
        self.roots = roots
        self.max_priority = MAX_PRIORITY if roots is None else roots.max_priority
        self.outputs = OutputNames()  # the outputs taken, to refuse any clash

    def folder_of(self, node: yaml.Node) -> Path | None:
        """The folder the entry ``node`` names, a directory or a glob's fixed leading one
        (files may come and go there); None for a file or an object. No problem is
        recorded (its reading does), and nothing outside the roots is looked at."""
        if isinstance(node, yaml.MappingNode):
            found = [v for k, v in node.value if getattr(k, "value", None) == "audio"]
            node = found[0] if found else node
        if not isinstance(node, yaml.ScalarNode) or not isinstance(node.value, str):
            return None
        audio = node.value
        if "\0" in audio or is_object_uri(audio):
            return None
        try:
            if glob.has_magic(audio):
                folder = split_glob(audio, self.base_dir)[0]
            else:
                local = Path(audio).expanduser()
                folder = local if local.is_absolute() else self.base_dir / local
            if self.roots is not None and self.roots.refusal(folder) is not None:
                return None
            return folder if glob.has_magic(audio) or folder.is_dir() else None
        except (RuntimeError, OSError, ValueError):
            return None

    def entry(self, index: int, node: yaml.Node, defaults: Choices) -> Iterator[JobSpec]:
        """Expand one `jobs:` entry into job specs, yielded as they are found."""
        path = join_path("jobs", index)
        if isinstance(node, yaml.ScalarNode) and not self.r.is_null(node):
            # Shorthand: `- calls/a.ogg` is `- audio: calls/a.ogg`.
            audio = self.r.string(node, join_path(path, "audio"))
            if audio is None:
                return
            yield from self.expand(audio, node, None, None, path, defaults, line_of(node))
            return
        sec = self.r.section(node, path, JOB_KEYS, nullable=False)
        if sec.node is None:
            return
        sec.reject_unknown()
        settings = read_settings(self.r, sec, defaults.settings, self.apis, self.max_priority)
        options = read_output_options(self.r, sec, defaults.options, settings, self.apis)
        choices = Choices(settings, options)
        if "audio" not in sec:
            self.r.problem(
                node, join_path(path, "audio"), "missing: a file, glob, directory or s3://"
            )
            return
        audio = sec.optional_string("audio")
        if audio is None:
            return
        include = self.include(sec)
        yield from self.expand(audio, sec.node_of("audio"), sec, include, path, choices, sec.line)

    def expand(
        self,
        audio: str,
        audio_node: yaml.Node | None,
        sec: Section | None,
        include: tuple[str, ...] | None,
        path: str,
        choices: Choices,
        line: int | None,
    ) -> Iterator[JobSpec]:
        """Turn one `audio:` value into jobs; a path the filesystem refuses (a name too
        long, a loop of symlinks) is a problem of this entry, not of the whole load."""
        try:
            yield from self._expand(audio, audio_node, sec, include, path, choices, line)
        except TooManyEntries:
            self.r.problem(
                audio_node,
                join_path(path, "audio"),
                f"{audio!r} looks at more than {MAX_VISITS} files and directories; "
                "name a narrower glob or directory",
            )
        except OSError as exc:
            self.r.problem(
                audio_node,
                join_path(path, "audio"),
                f"cannot use {audio!r}: {exc.strerror or type(exc).__name__}",
            )

    def include(self, sec: Section) -> tuple[str, ...] | None:
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
        choices: Choices,
        line: int | None,
    ) -> Iterator[JobSpec]:
        """Turn one `audio:` value into jobs: S3 object, glob, directory or single file."""
        audio_field = join_path(path, "audio")
        output_node = None if sec is None else sec.node_of("output")
        output = None if sec is None else sec.optional_string("output")
        if "\0" in audio:
            self.r.problem(audio_node, audio_field, "contains a NUL byte")
            return
        if is_object_uri(audio):
            job = self.s3(audio, audio_node, output, output_node, include, sec, path, choices)
            if job is not None:
                yield job
            return
        absolute = self._local(audio, audio_node, audio_field)
        if absolute is None:
            return
        kind = "glob" if glob.has_magic(audio) else "directory" if absolute.is_dir() else "file"
        self._misplaced(output_node, include, sec, path, kind)
        if kind != "file":
            found, what = self._found(audio, absolute, kind, include, choices)
            yield from self._matched(found, what, audio_node, audio_field, choices, line)
            return
        file = Path(os.path.normpath(absolute.absolute()))
        rel = relative_to(file, self.base_dir) or file.name
        derived = output if output is not None else strip_extension(rel)
        field = join_path(path, "output" if output is not None else "audio")
        node = output_node if output is not None else audio_node
        job = self.job(str(file), derived, node, field, choices, line)
        if job is not None:
            yield job

    def _local(self, audio: str, audio_node: yaml.Node | None, field: str) -> Path | None:
        """The absolute local path `audio:` names (a glob's pattern as written), or None
        with the problem recorded: an unknown ``~user``, or a path outside the roots."""
        try:
            local = Path(audio).expanduser()
        except RuntimeError:  # `~name` of a user this system does not know
            self.r.problem(audio_node, field, f"{audio!r}: no home directory for its ~user")
            return None
        absolute = local if local.is_absolute() else self.base_dir / local
        if self.roots is not None:
            # Checked before anything outside the roots is looked at, even its name.
            walked = split_glob(audio, self.base_dir)[0] if glob.has_magic(audio) else absolute
            refused = self.roots.refusal(walked)
            if refused is not None:
                self.r.problem(audio_node, field, refused)
                return None
        return absolute

    def _misplaced(
        self,
        output_node: yaml.Node | None,
        include: tuple[str, ...] | None,
        sec: Section | None,
        path: str,
        kind: str,
    ) -> None:
        """Record `output:` given for many files (``kind``: what the audio names, "glob",
        "directory" or "file") and `include:` given for no directory."""
        if kind != "file" and output_node is not None:
            self.r.problem(
                output_node,
                join_path(path, "output"),
                f"only for a single file; the audio here is a {kind}",
            )
        if include is not None and kind != "directory" and sec is not None:
            self.r.problem(
                sec.node_of("include"),
                join_path(path, "include"),
                "only for a directory entry",
            )

    def _found(
        self,
        audio: str,
        absolute: Path,
        kind: str,
        include: tuple[str, ...] | None,
        choices: Choices,
    ) -> tuple[Iterator[Matched], str]:
        """The files a glob or a directory names, and the problem to record if none."""
        if kind == "glob":
            return glob_matches(audio, self.base_dir), f"the glob {audio!r} matches no file"
        patterns = include if include else default_patterns(choices.settings)
        what = f"the directory {audio!r} holds no file matching {', '.join(patterns)}"
        return directory_matches(absolute, patterns, self.base_dir), what

    def _matched(
        self,
        found: Iterator[Matched],
        what: str,
        audio_node: yaml.Node | None,
        audio_field: str,
        choices: Choices,
        line: int | None,
    ) -> Iterator[JobSpec]:
        """One job per file found; ``what`` recorded as a problem when there is none."""
        matched = 0
        for match in found:
            matched += 1
            job = self.job(
                match.path,
                strip_extension(match.rel),
                audio_node,
                audio_field,
                choices,
                line,
                real=match.real,
            )
            if job is not None:
                yield job
        if not matched and not self.standing:
            self.r.problem(audio_node, audio_field, what)

    def s3(
        self,
        audio: str,
        audio_node: yaml.Node | None,
        output: str | None,
        output_node: yaml.Node | None,
        include: tuple[str, ...] | None,
        sec: Section | None,
        path: str,
        choices: Choices,
    ) -> JobSpec | None:
        """An object already in storage: checked for shape only, never fetched."""
        try:
            ref = ObjectRef.parse(audio)
        except ValueError as exc:
            self.r.problem(audio_node, join_path(path, "audio"), str(exc))
            return None
        key = ref.key
        refused = None if self.roots is None else self.roots.object_refusal(ref)
        if refused is not None:
            self.r.problem(audio_node, join_path(path, "audio"), refused)
            return None
        if glob.has_magic(key):
            self.r.problem(
                audio_node, join_path(path, "audio"), "wildcards are not supported in s3:// URIs"
            )
            return None
        if include is not None and sec is not None:
            self.r.problem(
                sec.node_of("include"), join_path(path, "include"), "only for a directory entry"
            )
        problem = source_problem(choices.settings, True, self.apis)
        if problem is not None:
            self.r.problem(audio_node, join_path(path, "audio"), problem)
            return None
        if output is not None:
            derived, node, fld = output, output_node, join_path(path, "output")
        else:
            derived, node, fld = strip_extension(key), audio_node, join_path(path, "audio")
        return self.job(audio, derived, node, fld, choices, line_of(audio_node))

    def job(
        self,
        source: str,
        output: str,
        node: yaml.Node | None,
        field: str,
        choices: Choices,
        line: int | None,
        real: str | None = None,
    ) -> JobSpec | None:
        """One job, once its source may be read and its output path is known to be safe
        and not taken by another job. ``real``: the source's real path, when known."""
        if self.roots is not None and not is_object_uri(source):
            refused = self.roots.refusal(source, real)
            if refused is not None:
                self.r.problem(node, field, refused)
                return None
        reason = safe_output_problem(output)
        if reason is not None:
            self.r.problem(node, field, f"output path {output!r}: {reason}")
            return None
        output = normal_output(output)
        entry_line = line if line is not None else line_of(node)
        names = choices.options.channel_names
        clash = self.outputs.clash(output, names)
        if clash is not None:
            self.r.problem(node, field, self.clash_message(output, source, entry_line, *clash))
            return None
        self.outputs.take(output, Taken(entry_line, source, names))
        return JobSpec(
            source=source,
            output=output,
            settings=choices.settings,
            line=entry_line,
            options=choices.options,
            # ``field`` is the entry's ``audio`` or ``output``: the entry is what is before.
            entry=field.rpartition(".")[0],
        )

    def clash_message(
        self, output: str, source: str, line: int | None, other: str, shared: str
    ) -> str:
        """What a clash of ``output`` with the output ``other`` ("": the report) over
        the file ``shared`` is, naming both jobs."""
        if not other:
            return f"output {output!r} would overwrite the manifest's report ({shared}); rename it"
        first = self.outputs.taken[other]
        if other == output:
            return (
                f"output {output!r} is produced twice: by {self.show(first.source)} "
                f"(line {first.line}) and by {self.show(source)} (line {line})"
            )
        return (
            f"output {output!r} clashes with output {other!r} of {self.show(first.source)} "
            f"(line {first.line}) over {shared!r}: one would overwrite the other's "
            "transcripts; rename one of them"
        )

    def show(self, source: str) -> str:
        """A source as the user would recognise it: relative to base_dir when inside."""
        if is_object_uri(source):
            return source
        return relative_to(Path(source), self.base_dir) or source
