"""JSON text in and out: orjson's speed, the standard library's reach."""

from __future__ import annotations

import json

import pytest

from orchestrator.core import jsontext


def test_it_writes_what_the_standard_library_reads_back() -> None:
    value = {"text": "да, конечно", "start": 0.1, "words": [("a", 1.5, 2.0, None)], "n": 3}
    for text in (jsontext.dumps(value), jsontext.dumps_indented(value)):
        assert json.loads(text) == {**value, "words": [["a", 1.5, 2.0, None]]}
        assert "да, конечно" in text  # UTF-8 as it is, not \\u escapes
    assert jsontext.dumps_indented({"a": [1]}) == '{\n  "a": [\n    1\n  ]\n}'


def test_what_orjson_refuses_the_standard_library_writes() -> None:
    huge = {"id": 2**70}
    assert json.loads(jsontext.dumps(huge)) == huge
    assert json.loads(jsontext.dumps_indented(huge)) == huge


def test_reading_anything_but_json_is_a_value_error() -> None:
    assert jsontext.loads(b'{"a": 1}') == {"a": 1}
    for bad in (b"", b"{", "not json", b"\xff"):
        with pytest.raises(ValueError, match=r"\w"):
            jsontext.loads(bad)
