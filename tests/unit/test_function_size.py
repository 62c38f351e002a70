"""No function in orchestrator/ is longer than 60 lines, beyond a short named list.

A long function tends to mix a decision with the I/O around it; ruff's complexity checks
(configured in pyproject.toml) count branches and statements, this counts lines. Read
from the source with ``ast``, so a failure names the file, the function and its length.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "orchestrator"
MAX_LINES = 60
# "path/inside/orchestrator.py:Qualified.name" -> why it may stay longer (none today).
ALLOWED: dict[str, str] = {}


def functions(path: Path) -> Iterator[tuple[str, int]]:
    """Each function of a module (methods and nested ones too): its qualified name and
    length in lines, decorators not counted."""

    def walk(node: ast.AST, prefix: str) -> Iterator[tuple[str, int]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = prefix + child.name
                assert child.end_lineno is not None
                yield name, child.end_lineno - child.lineno + 1
                yield from walk(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, prefix + child.name + ".")
            else:
                yield from walk(child, prefix)

    yield from walk(ast.parse(path.read_text("utf-8"), filename=str(path)), "")


def long_functions() -> dict[str, int]:
    """Every function over the ceiling, by "path:qualified name"."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        for name, lines in functions(path):
            if lines > MAX_LINES:
                found[f"{rel}:{name}"] = lines
    return found


def test_no_function_is_longer_than_the_ceiling() -> None:
    too_long = {key: lines for key, lines in long_functions().items() if key not in ALLOWED}
    assert not too_long, (
        f"functions over {MAX_LINES} lines (split the decision from the I/O): "
        + ", ".join(f"{key} ({lines} lines)" for key, lines in sorted(too_long.items()))
    )


def test_every_allowed_function_is_still_long() -> None:
    # A function split since, renamed or removed leaves the list, so the list only shrinks.
    stale = sorted(set(ALLOWED) - set(long_functions()))
    assert not stale, f"no longer over {MAX_LINES} lines: drop from ALLOWED: {stale}"


def test_functions_names_methods_and_nested_functions(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "class A:\n"
        "    @staticmethod\n"
        "    def f():\n"
        "        async def g():\n"
        "            return 1\n"
        "        return g\n"
        "def h(): pass\n",
        "utf-8",
    )
    assert dict(functions(module)) == {"A.f": 4, "A.f.g": 2, "h": 1}
