"""A name is checked whole: ``$`` in ``re.match`` lets a trailing newline through, so
every name (manifest names, buckets, config names) must fail with one (issue 20, item 11)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from orchestrator.config import load_config
from orchestrator.core.errors import UserInputError
from orchestrator.core.languages import read_language
from orchestrator.core.refs import ObjectRef
from orchestrator.intake.manifest import validate_manifest

ROOT = Path(__file__).resolve().parents[2]


def test_a_manifest_name_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text('name: "nl\\n"\njobs: [s3://audio/a.ogg]\n', encoding="utf-8")
    checked = validate_manifest(manifest)
    assert not checked.valid
    assert [p.field for p in checked.problems] == ["name"]


def test_a_bucket_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(ValueError, match="BUCKET"):
        ObjectRef.parse("s3://audio\n/a.ogg")


@pytest.mark.parametrize(
    "text",
    [
        'storage:\n  bucket: "audio\\n"\n',
        'storage:\n  bucket: audio\n  api_key_env: "KEY\\n"\n',
    ],
)
def test_config_names_with_a_trailing_newline_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text.replace("  api_key_env", "speechkit:\n  api_key_env"), encoding="utf-8")
    with pytest.raises(UserInputError):
        load_config(path, env={"KEY\n": "a-secret-value-1"})


def test_a_language_code_with_a_trailing_newline_is_refused() -> None:
    assert read_language("ru-RU\n").problem is not None


def test_no_pattern_ending_in_dollar_is_used_with_match() -> None:
    """``re.compile(r"...$")`` anywhere in the package: ``$`` matches before a final
    newline, so a name checked with it is not checked whole; use ``\\Z`` or fullmatch."""
    found = []
    for path in sorted((ROOT / "orchestrator").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("compile", "match", "search")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
                and node.args[0].value.endswith("$")
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []
