"""``pipeline/transitions.py`` is the one writer of job state: no other module outside the
store calls the store's job writes."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "orchestrator"
WRITES = {"update_job", "release_followers"}
WRITER = ROOT / "pipeline" / "transitions.py"


def test_only_transitions_writes_a_job() -> None:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        if path == WRITER or ROOT / "store" in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in WRITES:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.attr}")
    assert found == []
