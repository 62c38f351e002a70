"""A problem is one line of bounded length, whatever the input held."""

from __future__ import annotations

from orchestrator.core.errors import (
    MAX_FIELD_CHARS,
    MAX_FILE_CHARS,
    MAX_MESSAGE_CHARS,
    Problem,
    printable,
    summarize,
)


def test_control_characters_and_undecodable_bytes_are_escaped() -> None:
    escaped = "a\\x0ab\\x09c\\x01d\\x7fe\\u2028f\\u202eg"
    assert printable("a\nb\tc\x01d\x7fe\u2028f\u202eg") == escaped
    # A file name that was not UTF-8 (os.fsdecode's surrogate escapes): its bytes, escaped.
    assert printable("\udcff\udcfe.yaml") == "\\xff\\xfe.yaml"
    assert printable("caf\u00e9 \u2713") == "caf\u00e9 \u2713"


def test_a_problem_is_one_bounded_line() -> None:
    problem = Problem("d/" + "f" * 5000 + "\n.yaml", "m\n" * 5000, line=3, field="k\n" * 500)
    text = str(problem)
    assert "\n" not in text
    assert len(text) < MAX_FILE_CHARS + MAX_FIELD_CHARS + MAX_MESSAGE_CHARS + 200
    assert "more characters" in text
    as_dict = problem.as_dict()
    assert isinstance(as_dict["message"], str)
    assert len(as_dict["message"]) < MAX_MESSAGE_CHARS + 50


def test_summarize_counts_what_it_leaves_out() -> None:
    problems = [Problem("m.yaml", f"problem {i}", line=i) for i in range(1, 6)]
    assert summarize(problems, 10) == [str(p) for p in problems]
    assert summarize(problems, 2) == [
        "m.yaml:1: problem 1",
        "m.yaml:2: problem 2",
        "... and 3 more problems (5 in all)",
    ]
