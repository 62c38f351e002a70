"""YAML files read safely: a size cap, no symlink followed where asked, a nesting cap,
and syntax errors as Problems with their line (never more than a character of the text).
``config.yamlload`` reads the composed nodes."""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

import yaml

from orchestrator.core.errors import Problem

# A manifest of 100,000 jobs is a few megabytes; past this a file is a mistake, or hostile.
MAX_YAML_BYTES = 16 * 1024 * 1024
# PyYAML's scanner takes time in the square of the nesting of [ and {: 3000 levels cost
# seconds, a few megabytes of them hours. No manifest or config needs more than this.
MAX_FLOW_DEPTH = 64
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")


def read_yaml_bytes(
    path: Path, display: str | None = None, *, follow_symlinks: bool = True
) -> tuple[bytes | None, Problem | None]:
    """The bytes of a YAML file, or the Problem that stopped the reading.

    Only a regular file of at most ``MAX_YAML_BYTES`` is read: a FIFO or a device could
    block or never end. ``follow_symlinks=False`` refuses a symbolic link (the inbox takes
    files placed in it, not links to files elsewhere).
    """
    file = display if display is not None else str(path)
    fd, problem = _open(path, file, follow_symlinks)
    if fd is None:
        return None, problem
    try:
        data, problem = _read_regular(fd, file)
    finally:
        os.close(fd)
    if data is not None and len(data) > MAX_YAML_BYTES:
        return None, Problem(file, f"larger than {MAX_YAML_BYTES // 2**20} MiB; split it up")
    return data, problem


def _open(path: Path, file: str, follow_symlinks: bool) -> tuple[int | None, Problem | None]:
    """A descriptor of ``path`` opened for reading without blocking, or why it cannot be."""
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow_symlinks else os.O_NOFOLLOW)
    try:
        return os.open(path, flags), None
    except FileNotFoundError:
        return None, Problem(file, "file not found")
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_symlinks:
            return None, Problem(file, "is a symbolic link; place the file itself")
        return None, Problem(file, f"cannot read: {exc.strerror or type(exc).__name__}")


def _read_regular(fd: int, file: str) -> tuple[bytes | None, Problem | None]:
    """Up to one byte past the size cap of an open regular file (a FIFO could block or
    never end; a device too)."""
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            return None, Problem(file, "is a directory, not a YAML file")
        if not stat.S_ISREG(info.st_mode):
            return None, Problem(file, "not a regular file (a device, FIFO or socket)")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read(MAX_YAML_BYTES + 1), None
    except OSError as exc:
        return None, Problem(file, f"cannot read: {exc.strerror or type(exc).__name__}")


class _NoAliasLoader(yaml.SafeLoader):
    """A safe loader that refuses aliases: each ``*name`` is the whole anchored node
    again, so a few bytes could stand for a great many entries."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        """The next node; a ComposerError at an alias."""
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(None, None, ALIAS_REFUSED, mark)
        node: yaml.Node | None = super().compose_node(parent, index)
        return node


ALIAS_REFUSED = "aliases (*name) are not allowed here: write the value out, or use defaults:"


def compose_file(
    path: Path, display: str | None = None, *, aliases: bool = True
) -> tuple[yaml.Node | None, Problem | None]:
    """Read and compose one YAML document; any read or syntax error comes back as a Problem."""
    data, problem = read_yaml_bytes(path, display)
    if data is None:
        return None, problem
    return compose_bytes(data, display if display is not None else str(path), aliases=aliases)


def compose_bytes(
    data: bytes, file: str, *, aliases: bool = True
) -> tuple[yaml.Node | None, Problem | None]:
    """Compose a YAML document from its bytes, which must be UTF-8."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return None, Problem(file, "not UTF-8 text (save it as UTF-8)", line=line)
    return compose_text(text, file, aliases=aliases)


def compose_text(
    text: str, file: str, *, aliases: bool = True
) -> tuple[yaml.Node | None, Problem | None]:
    """Compose YAML text into a node tree; any syntax error comes back as a Problem with its
    line. Messages name what is wrong, never more than a character of the text. With
    ``aliases`` False (a manifest), an alias is such a problem."""
    if _too_deep(text):
        return None, Problem(
            file, f"invalid YAML: [ and {{ nested more than {MAX_FLOW_DEPTH} levels deep"
        )
    try:
        loader = yaml.SafeLoader(text) if aliases else _NoAliasLoader(text)
    except yaml.reader.ReaderError as exc:
        # The reader refuses control characters before parsing anything.
        line = text.count("\n", 0, exc.position) + 1
        return None, Problem(
            file,
            f"invalid YAML: character #x{exc.character:04x} is not allowed "
            "(control characters cannot appear in YAML text)",
            line=line,
        )
    try:
        return loader.get_single_node(), None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = exc.problem or exc.context or "invalid YAML"
        return None, Problem(
            file, f"invalid YAML: {reason}", line=None if mark is None else mark.line + 1
        )
    except yaml.YAMLError as exc:
        return None, Problem(file, f"invalid YAML: {type(exc).__name__}")
    except RecursionError:
        return None, Problem(file, "invalid YAML: nested too deeply to read")
    finally:
        loader.dispose()


def _too_deep(text: str) -> bool:
    """Whether ``[`` and ``{`` nest deeper than ``MAX_FLOW_DEPTH`` (counted in quoted text
    too: a stray bracket in a string costs one level, far from the limit)."""
    brackets = _NOT_BRACKETS.sub("", text)
    if brackets.count("[") + brackets.count("{") <= MAX_FLOW_DEPTH:
        return False
    depth = 0
    for char in brackets:
        depth += 1 if char in "[{" else -1
        if depth > MAX_FLOW_DEPTH:
            return True
    return False
