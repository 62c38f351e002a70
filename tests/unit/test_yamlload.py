from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.config.yamlfile import (
    MAX_YAML_BYTES,
    compose_file,
    compose_text,
    read_yaml_bytes,
)
from orchestrator.config.yamlload import Reader, Section, suggest
from orchestrator.core.errors import Problem, UserInputError


def section(text: str, allowed: tuple[str, ...]) -> tuple[Reader, Section]:
    node, problem = compose_text(text, "f.yaml")
    assert problem is None
    reader = Reader("f.yaml")
    return reader, reader.section(node, "top", allowed)


def only(reader: Reader) -> Problem:
    assert len(reader.problems) == 1, reader.problems
    return reader.problems[0]


def test_syntax_error_has_line() -> None:
    _node, problem = compose_text("a: 1\nb: [1, 2\nc: 3\n", "f.yaml")
    assert problem is not None
    assert problem.file == "f.yaml"
    assert problem.line is not None
    assert problem.line >= 2
    assert "invalid YAML" in problem.message


def test_missing_file_is_a_problem(tmp_path: Path) -> None:
    _node, problem = compose_file(tmp_path / "nope.yaml")
    assert problem is not None
    assert problem.message == "file not found"


def test_unknown_key_suggests_closest_name() -> None:
    reader, sec = section("region: r\nbuckt: b\n", ("bucket", "region"))
    sec.reject_unknown()
    p = only(reader)
    assert (p.line, p.field) == (2, "top.buckt")
    assert "did you mean 'bucket'?" in p.message


def test_unknown_key_without_close_match_lists_allowed() -> None:
    reader, sec = section("zzzzzz: 1\n", ("bucket", "region"))
    sec.reject_unknown()
    assert "allowed: bucket, region" in only(reader).message


def test_suggest() -> None:
    assert suggest("langauge", ["language", "model"]) == "did you mean 'language'?"


def test_duplicate_key_names_first_line() -> None:
    reader, _sec = section("a: 1\nb: 2\na: 3\n", ("a", "b"))
    p = only(reader)
    assert (p.line, p.field) == (3, "top.a")
    assert "line 1" in p.message


@pytest.mark.parametrize(
    ("text", "read", "message"),
    [
        ("n: abc\n", lambda s: s.integer("n", 1), "must be an integer, got a string"),
        ("n: true\n", lambda s: s.integer("n", 1), "must be an integer, got a boolean"),
        ("n: 0\n", lambda s: s.positive_int("n", 1), "must be at least 1, got 0"),
        ("n: -2.5\n", lambda s: s.positive_number("n", 1.0), "must be positive, got -2.5"),
        ("n: 0\n", lambda s: s.positive_number("n", 1.0), "must be positive, got 0"),
        ("n: .nan\n", lambda s: s.number("n", 1.0), "must be a finite number"),
        ("n: 9\n", lambda s: s.integer("n", 1, maximum=8), "must be at most 8, got 9"),
        ("n: 12\n", lambda s: s.string("n", "x"), "must be a string, got an integer"),
        ("n: ''\n", lambda s: s.string("n", "x"), "must not be empty"),
        ("n: [1]\n", lambda s: s.boolean("n", True), "must be true or false, got a list"),
        ("n: ftp://h/\n", lambda s: s.url("n", "http://d"), "must be an http:// or https:// URL"),
        ("n: 'http://'\n", lambda s: s.url("n", "http://d"), "must be an http:// or https:// URL"),
        ("n: http://u:p@h/\n", lambda s: s.url("n", "http://d"), "must not contain credentials"),
        ("n: nul\n", lambda s: s.choice("n", "a", ("a", "null")), "did you mean 'null'?"),
        ("n: 5\n", lambda s: s.choice("n", 1, (1, 2)), "must be one of: 1, 2; got 5"),
        ("n:\n", lambda s: s.integer("n", 1), "must not be null"),
    ],
)
def test_typed_readers_report_problem_with_line(text: str, read: object, message: str) -> None:
    reader, sec = section("# comment\n" + text, ("n",))
    assert callable(read)
    read(sec)
    p = only(reader)
    assert (p.file, p.line, p.field) == ("f.yaml", 2, "top.n")
    assert message in p.message


def test_type_messages_do_not_echo_values() -> None:
    reader, sec = section("n: AQVNverysecret\n", ("n",))
    sec.integer("n", 1)
    assert "AQVN" not in only(reader).message


def test_valid_values_and_defaults() -> None:
    reader, sec = section(
        "i: 3\nf: 2\nb: false\nu: https://h.example/x/\ns: text\nc: b\n",
        ("i", "f", "b", "u", "s", "c", "missing"),
    )
    assert sec.integer("i", 0) == 3
    assert sec.positive_number("f", 1.0) == 2.0
    assert sec.boolean("b", True) is False
    assert sec.url("u", "") == "https://h.example/x"
    assert sec.string("s", "") == "text"
    assert sec.choice("c", "a", ("a", "b")) == "b"
    assert sec.integer("missing", 7) == 7
    assert sec.optional_string("missing") is None
    assert reader.problems == []


def test_section_of_wrong_type() -> None:
    reader, sec = section("sub: [1, 2]\n", ("sub",))
    inner = sec.section("sub", ("a",))
    assert inner.entries == {}
    p = only(reader)
    assert (p.line, p.field) == (1, "top.sub")
    assert "must be a mapping, got a list" in p.message


def test_raise_if_problems() -> None:
    reader, sec = section("n: x\n", ("n",))
    sec.integer("n", 1)
    with pytest.raises(UserInputError) as info:
        reader.raise_if_problems()
    assert str(info.value) == "f.yaml:1: top.n: must be an integer, got a string"


@pytest.mark.parametrize(
    ("data", "line", "message"),
    [
        (b"a: 1\nb: x\x01y\n", 2, "character #x0001 is not allowed"),
        (b"a: 1\nb: caf\xe9\n", 2, "not UTF-8"),
        (b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n", None, "nested more than 64 levels"),
        (b"a:\n" + b"".join(b"  " * i + b"- \n" for i in range(1, 600)), None, "too deeply"),
        (b"a: *nowhere\n", 1, "undefined alias"),
        (b"a: !!python/object:os.system x\n", None, None),  # composes; only built on read
    ],
)
def test_any_bytes_give_a_problem_not_an_exception(
    tmp_path: Path, data: bytes, line: int | None, message: str | None
) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(data)
    _node, problem = compose_file(path)
    if message is None:
        assert problem is None
        return
    assert problem is not None
    assert (problem.line, problem.file) == (line, str(path))
    assert message in problem.message


def test_only_regular_files_of_a_sane_size_are_read(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)  # reading it would wait for a writer forever
    _node, problem = compose_file(fifo)
    assert problem is not None
    assert "not a regular file" in problem.message
    big = tmp_path / "big.yaml"
    with big.open("wb") as out:
        out.truncate(MAX_YAML_BYTES + 1)
    _node, problem = compose_file(big)
    assert problem is not None
    assert "larger than" in problem.message
    link = tmp_path / "link.yaml"
    link.symlink_to(tmp_path / "real.yaml")
    (tmp_path / "real.yaml").write_text("a: 1\n", "utf-8")
    data, problem = read_yaml_bytes(link, follow_symlinks=False)
    assert data is None
    assert problem is not None
    assert "symbolic link" in problem.message


@pytest.mark.parametrize(
    "value",
    ["!!int nope", "!!float x", "!!bool maybe", "!!timestamp soon", '!!binary "a"', "!x y"],
)
def test_a_value_its_tag_cannot_build_is_a_problem(value: str) -> None:
    reader, sec = section(f"n: {value}\nm: 2\n", ("n", "m"))
    assert sec.integer("n", 7) == 7
    assert sec.integer("m", 0) == 2
    p = only(reader)
    assert (p.line, p.field) == (1, "top.n")
    assert "not a valid value for its tag" in p.message


def test_a_key_its_tag_cannot_build_is_a_problem_once() -> None:
    reader, sec = section("!!int k: 1\nm: 2\n", ("m",))
    assert sec.integer("m", 0) == 2
    assert only(reader).field == "top"
