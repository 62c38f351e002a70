"""YAML with line numbers: read typed fields of composed nodes while collecting Problems
(``config.yamlfile`` reads and composes the text).

Reading never stops at the first mistake: every reader records a Problem (file, key path,
line) and returns ``None`` or the default, so a caller can report everything at once.
Messages describe the wrong type, never echo the value, because a misplaced secret must not
end up in an error message.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Collection, Iterator, Sequence
from typing import TypeVar
from urllib.parse import urlsplit

import yaml

from orchestrator.core.errors import Problem, UserInputError

T = TypeVar("T")

# What a scalar that cannot be built (``!!int nope``) reads as: its problem is recorded.
_INVALID = object()

_TAG_NAMES = {
    "tag:yaml.org,2002:str": "a string",
    "tag:yaml.org,2002:int": "an integer",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:bool": "a boolean",
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:timestamp": "a date",
    "tag:yaml.org,2002:binary": "binary data",
    "tag:yaml.org,2002:seq": "a list",
    "tag:yaml.org,2002:map": "a mapping",
    "tag:yaml.org,2002:omap": "a mapping",
    "tag:yaml.org,2002:set": "a set",
}


def describe(node: yaml.Node) -> str:
    """What a node is, for messages (``a string``, ``a list``), without its value."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return _TAG_NAMES.get(node.tag, node.tag)


def line_of(node: yaml.Node | None) -> int | None:
    """1-based line where a node starts."""
    return None if node is None else node.start_mark.line + 1


def join_path(parent: str, key: str | int) -> str:
    """Key path for messages: ``storage.bucket``, ``jobs[2].audio``."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


def suggest(name: str, allowed: Collection[str]) -> str:
    """``did you mean 'x'?`` for the closest allowed name, else the list of allowed names."""
    close = difflib.get_close_matches(name, list(allowed), n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return "allowed: " + ", ".join(sorted(allowed))


class Reader:
    """Reads typed values from YAML nodes of one file, collecting every Problem it meets."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self._constructor = yaml.constructor.SafeConstructor()

    def problem(self, node: yaml.Node | None, field: str | None, message: str) -> None:
        """Record one problem at ``node``'s line."""
        self.problems.append(Problem(self.file, message, line=line_of(node), field=field or None))

    def warn(self, node: yaml.Node | None, field: str | None, message: str) -> None:
        """Record something allowed but unwise at ``node``'s line (said, never fatal)."""
        self.warnings.append(Problem(self.file, message, line=line_of(node), field=field or None))

    def raise_if_problems(self) -> None:
        """Raise UserInputError with every problem recorded so far, if any."""
        if self.problems:
            raise UserInputError(self.problems)

    def scalar(self, node: yaml.Node, path: str) -> object:
        """The Python value of a scalar node (anchors and tags resolved the safe way).

        A value its tag cannot build (``!!int nope``, an unknown ``!tag``) is recorded as a
        problem at ``path`` and comes back as a value no typed reader accepts.
        """
        try:
            return self._constructor.construct_object(node, deep=True)
        except Exception:
            # SafeConstructor raises ValueError, KeyError, AttributeError or its own errors
            # depending on the tag: none of them may stop the reading of the rest.
            self.problem(node, path, f"not a valid value for its tag ({describe(node)})")
            return _INVALID

    def is_null(self, node: yaml.Node) -> bool:
        """True for ``key:``, ``key: null`` and ``key: ~``."""
        return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"

    def section(
        self,
        node: yaml.Node | None,
        path: str,
        allowed: Collection[str],
        *,
        nullable: bool = True,
        anchor: yaml.Node | None = None,
    ) -> Section:
        """A mapping node as a Section; anything else is a problem and yields an empty Section.

        ``anchor`` (the key node, usually) is where problems about the section as a whole point.
        """
        if node is None or (nullable and self.is_null(node)):
            return Section(self, None, path, allowed, {}, anchor)
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, path, f"must be a mapping, got {describe(node)}")
            return Section(self, None, path, allowed, {}, anchor)
        entries: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = self.scalar(key_node, path) if isinstance(key_node, yaml.ScalarNode) else None
            if key is _INVALID:
                continue
            if not isinstance(key, str):
                self.problem(key_node, path, f"keys must be strings, got {describe(key_node)}")
                continue
            field = join_path(path, key)
            if key in entries:
                first = line_of(entries[key][0])
                self.problem(key_node, field, f"duplicate key (first given at line {first})")
                continue
            entries[key] = (key_node, value_node)
        return Section(self, node, path, allowed, entries, anchor)

    def sequence(self, node: yaml.Node, path: str) -> list[yaml.Node] | None:
        """The items of a list node, or None (and a problem) for anything else."""
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, path, f"must be a list, got {describe(node)}")
            return None
        return list(node.value)

    def string(self, node: yaml.Node, path: str, *, allow_empty: bool = False) -> str | None:
        """A string scalar; numbers and booleans are not silently turned into strings."""
        value = self.scalar(node, path) if isinstance(node, yaml.ScalarNode) else None
        if value is _INVALID:
            return None
        if not isinstance(value, str):
            self.problem(node, path, f"must be a string, got {describe(node)}")
            return None
        if not allow_empty and not value.strip():
            self.problem(node, path, "must not be empty")
            return None
        return value

    def integer(
        self,
        node: yaml.Node,
        path: str,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int | None:
        """An integer scalar within [minimum, maximum]."""
        value = self.scalar(node, path) if isinstance(node, yaml.ScalarNode) else None
        if value is _INVALID:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(node, path, f"must be an integer, got {describe(node)}")
            return None
        ok = self._in_range(node, path, value, minimum, maximum, exclusive_minimum=False)
        return value if ok else None

    def number(
        self,
        node: yaml.Node,
        path: str,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        exclusive_minimum: bool = False,
    ) -> float | None:
        """A finite number (integer or float) within the bounds."""
        value = self.scalar(node, path) if isinstance(node, yaml.ScalarNode) else None
        if value is _INVALID:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(node, path, f"must be a number, got {describe(node)}")
            return None
        if not math.isfinite(value):
            self.problem(node, path, "must be a finite number")
            return None
        ok = self._in_range(
            node, path, value, minimum, maximum, exclusive_minimum=exclusive_minimum
        )
        return float(value) if ok else None

    def _in_range(
        self,
        node: yaml.Node,
        path: str,
        value: float,
        minimum: float | None,
        maximum: float | None,
        *,
        exclusive_minimum: bool,
    ) -> bool:
        if minimum is not None:
            if exclusive_minimum and value <= minimum:
                what = "positive" if minimum == 0 else f"greater than {minimum:g}"
                self.problem(node, path, f"must be {what}, got {value:g}")
                return False
            if value < minimum:
                self.problem(node, path, f"must be at least {minimum:g}, got {value:g}")
                return False
        if maximum is not None and value > maximum:
            self.problem(node, path, f"must be at most {maximum:g}, got {value:g}")
            return False
        return True

    def boolean(self, node: yaml.Node, path: str) -> bool | None:
        """A boolean scalar (true/false)."""
        value = self.scalar(node, path) if isinstance(node, yaml.ScalarNode) else None
        if value is _INVALID:
            return None
        if not isinstance(value, bool):
            self.problem(node, path, f"must be true or false, got {describe(node)}")
            return None
        return value

    def choice(self, node: yaml.Node, path: str, choices: Sequence[T]) -> T | None:
        """One of ``choices`` (strings or integers); the message lists what is allowed."""
        value = self.scalar(node, path) if isinstance(node, yaml.ScalarNode) else None
        if value is _INVALID:
            return None
        for choice in choices:
            if type(value) is type(choice) and value == choice:
                return choice
        allowed = ", ".join(str(c) for c in choices)
        if isinstance(value, str) and all(isinstance(c, str) for c in choices):
            hint = suggest(value, [str(c) for c in choices])
            if hint.startswith("did you mean"):
                allowed += f"; {hint}"
            self.problem(node, path, f"unknown value {value!r}; allowed: {allowed}")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            self.problem(node, path, f"must be one of: {allowed}; got {value}")
        else:
            self.problem(node, path, f"must be one of: {allowed}; got {describe(node)}")
        return None

    def url(self, node: yaml.Node, path: str) -> str | None:
        """An http(s) URL with a host; the trailing slash is dropped so paths can be appended."""
        value = self.string(node, path)
        if value is None:
            return None
        try:
            parts = urlsplit(value.strip())
            valid = parts.scheme in ("http", "https") and bool(parts.hostname)
            _ = parts.port  # raises ValueError for a bad port
        except ValueError:
            valid = False
        if not valid:
            self.problem(node, path, "must be an http:// or https:// URL with a host")
            return None
        if parts.username or parts.password:
            self.problem(node, path, "must not contain credentials; use the *_env/*_file keys")
            return None
        return value.strip().rstrip("/")


class Section:
    """The entries of one mapping node, read by key with defaults; unknown keys are problems."""

    def __init__(
        self,
        reader: Reader,
        node: yaml.Node | None,
        path: str,
        allowed: Collection[str],
        entries: dict[str, tuple[yaml.Node, yaml.Node]],
        anchor: yaml.Node | None = None,
    ) -> None:
        self.reader = reader
        self.node = node
        # Where problems about the whole section point: its key when known, else the mapping.
        self.anchor = anchor if anchor is not None else node
        self.path = path
        self.allowed = allowed
        self.entries = entries

    @property
    def line(self) -> int | None:
        """Line of the mapping itself (None when it was absent)."""
        return line_of(self.node)

    def reject_unknown(self, also_known: Collection[str] = ()) -> None:
        """Record a problem for every key not in ``allowed``, suggesting the closest name."""
        for key, (key_node, _value) in self.entries.items():
            if key not in self.allowed and key not in also_known:
                hint = suggest(key, self.allowed)
                self.reader.problem(key_node, join_path(self.path, key), f"unknown key; {hint}")

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def field(self, key: str) -> str:
        """The key path of ``key`` in this section."""
        return join_path(self.path, key)

    def node_of(self, key: str) -> yaml.Node | None:
        """The value node of ``key``, or None when absent."""
        entry = self.entries.get(key)
        return None if entry is None else entry[1]

    def key_node(self, key: str) -> yaml.Node | None:
        """The key node of ``key`` (its line is where the entry starts)."""
        entry = self.entries.get(key)
        return None if entry is None else entry[0]

    def line_of(self, key: str) -> int | None:
        """Line of ``key``'s value, or of the section when absent."""
        node = self.node_of(key)
        return line_of(node) if node is not None else self.line

    def _present(self, key: str, nullable: bool) -> yaml.Node | None:
        node = self.node_of(key)
        if node is None:
            return None
        if self.reader.is_null(node):
            if not nullable:
                self.reader.problem(node, self.field(key), "must not be null")
            return None
        return node

    def section(self, key: str, allowed: Collection[str]) -> Section:
        """A nested mapping (empty when absent or null)."""
        return self.reader.section(
            self.node_of(key), self.field(key), allowed, anchor=self.key_node(key)
        )

    def string(self, key: str, default: str, *, allow_empty: bool = False) -> str:
        """A string, or ``default`` when absent or invalid."""
        node = self._present(key, False)
        if node is None:
            return default
        value = self.reader.string(node, self.field(key), allow_empty=allow_empty)
        return default if value is None else value

    def optional_string(self, key: str) -> str | None:
        """A string, or None when absent, null or invalid."""
        node = self._present(key, True)
        return None if node is None else self.reader.string(node, self.field(key))

    def integer(
        self,
        key: str,
        default: int,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int:
        """An integer in range, or ``default``."""
        node = self._present(key, False)
        if node is None:
            return default
        value = self.reader.integer(node, self.field(key), minimum=minimum, maximum=maximum)
        return default if value is None else value

    def optional_integer(
        self, key: str, *, minimum: int | None = None, maximum: int | None = None
    ) -> int | None:
        """An integer in range, or None when absent, null or invalid."""
        node = self._present(key, True)
        if node is None:
            return None
        return self.reader.integer(node, self.field(key), minimum=minimum, maximum=maximum)

    def positive_int(self, key: str, default: int) -> int:
        """An integer greater than zero, or ``default``."""
        return self.integer(key, default, minimum=1)

    def number(
        self,
        key: str,
        default: float,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        exclusive_minimum: bool = False,
    ) -> float:
        """A finite number in range, or ``default``."""
        node = self._present(key, False)
        if node is None:
            return default
        value = self.reader.number(
            node,
            self.field(key),
            minimum=minimum,
            maximum=maximum,
            exclusive_minimum=exclusive_minimum,
        )
        return default if value is None else value

    def positive_number(self, key: str, default: float) -> float:
        """A number greater than zero, or ``default``."""
        return self.number(key, default, minimum=0, exclusive_minimum=True)

    def boolean(self, key: str, default: bool) -> bool:
        """A boolean, or ``default``."""
        node = self._present(key, False)
        if node is None:
            return default
        value = self.reader.boolean(node, self.field(key))
        return default if value is None else value

    def choice(self, key: str, default: T, choices: Sequence[T]) -> T:
        """One of ``choices``, or ``default``."""
        node = self._present(key, False)
        if node is None:
            return default
        value = self.reader.choice(node, self.field(key), choices)
        return default if value is None else value

    def url(self, key: str, default: str) -> str:
        """An http(s) URL, or ``default``."""
        node = self._present(key, False)
        if node is None:
            return default
        value = self.reader.url(node, self.field(key))
        return default if value is None else value
