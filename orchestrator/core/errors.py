"""Errors a user can act on: what was wrong, where (file, line, field), and what is allowed.

A problem is printed on one line of bounded length whatever the input held: control
characters (a newline in a YAML key, a byte that is not UTF-8 in a file name) are shown
escaped, and a very long path, key or message is cut with a note of how much is missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Bounds of one problem line: a path may be long, a key path or a message less so.
MAX_FILE_CHARS = 1000
MAX_FIELD_CHARS = 200
MAX_MESSAGE_CHARS = 1000


def printable(text: str, limit: int | None = None) -> str:
    """``text`` on one line: control and separator characters escaped, bytes that were not
    UTF-8 (surrogate escapes) shown as ``\\xNN``, and cut to ``limit`` characters."""
    if not text.isprintable():
        text = "".join(_escape(char) for char in text)
    if limit is not None and len(text) > limit:
        text = f"{text[:limit]}... ({len(text) - limit} more characters)"
    return text


def _escape(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte os.fsdecode could not decode
        return f"\\x{code - 0xDC00:02x}"
    if char.isprintable():
        return char
    # Control, separator, format (bidi overrides too) and unassigned characters.
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


@dataclass(frozen=True)
class Problem:
    """One problem found in user input, located as precisely as the input allows."""

    file: str
    message: str
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        file = printable(self.file, MAX_FILE_CHARS)
        where = file if self.line is None else f"{file}:{self.line}"
        message = printable(self.message, MAX_MESSAGE_CHARS)
        if self.field:
            return f"{where}: {printable(self.field, MAX_FIELD_CHARS)}: {message}"
        return f"{where}: {message}"

    def as_dict(self) -> dict[str, object]:
        """The problem as a JSON-ready mapping (long values cut as in the printed form)."""
        return {
            "file": _cut(self.file, MAX_FILE_CHARS),
            "line": self.line,
            "field": None if self.field is None else _cut(self.field, MAX_FIELD_CHARS),
            "message": _cut(self.message, MAX_MESSAGE_CHARS),
        }


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit} more)"


def summarize(problems: Sequence[Problem], limit: int) -> list[str]:
    """The first ``limit`` problems as lines, then one line counting the rest (if any)."""
    lines = [str(problem) for problem in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"... and {len(problems) - limit} more problems ({len(problems)} in all)")
    return lines


class UserInputError(Exception):
    """Bad input from the user: one or more problems, each printable on one line."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
