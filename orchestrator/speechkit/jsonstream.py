"""A stream of concatenated JSON values, however it is laid out (pure).

getRecognition answers one JSON object per message. grpc-gateway writes them one per line,
but the documentation's own example (``en/_includes/speechkit/async-recognition-v3.md``,
"Request the operation result") prints each message pretty-printed over many lines, and
nothing promises a newline between two messages. So the values are read one after the
other, whatever whitespace (none included) stands between them; a stream that is one JSON
array is read as its elements.
"""

from __future__ import annotations

import json
from typing import Any

_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\r\n"


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in _WHITESPACE:
        at += 1
    return at


def _where(text: str, at: int) -> str:
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    return f"line {line} column {column}"


def parse_values(text: str) -> list[Any]:
    """Every JSON value of ``text`` in order; ValueError naming the line and column of the
    first that is not JSON."""
    values: list[Any] = []
    at = _skip(text, 0)
    while at < len(text):
        try:
            value, end = _DECODER.raw_decode(text, at)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"value {len(values) + 1} of the stream is not JSON at "
                f"{_where(text, exc.pos)}: {exc.msg}"
            ) from exc
        values.append(value)
        at = _skip(text, end)
    if len(values) == 1 and isinstance(values[0], list):
        return list(values[0])
    return values
