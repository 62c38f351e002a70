"""JSON text in and out, fast: transcripts are large (thousands of words an hour of audio),
and the standard library's encoder is pure Python as soon as it indents. orjson does the
work in C; the standard library remains the fallback for what orjson refuses (integers
beyond 64 bits, say), so that a strange but valid response never fails a job."""

from __future__ import annotations

import json
from typing import Any

import orjson


def loads(text: str | bytes) -> Any:
    """The value a JSON text holds; ValueError when it is not JSON."""
    return orjson.loads(text)


def dumps(value: Any) -> str:
    """Compact JSON text (UTF-8 characters as they are, not escaped)."""
    try:
        return orjson.dumps(value).decode("utf-8")
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def dumps_indented(value: Any) -> str:
    """JSON text indented by two spaces, for people to read too (no trailing newline)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode("utf-8")
    except TypeError:
        return json.dumps(value, ensure_ascii=False, indent=2)
