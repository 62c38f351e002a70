"""The reasons a job fails for good: one list in the code, the same list in the docs."""

from __future__ import annotations

import re
from pathlib import Path

from orchestrator.core.failures import ReasonClass

ROOT = Path(__file__).resolve().parents[2]
SENTENCE = re.compile(r"`reason_class` is (?P<list>[^;]*);")


def documented() -> dict[str, set[str]]:
    """Each page that lists the classes, and the classes it lists."""
    found = {}
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for match in SENTENCE.finditer(page.read_text("utf-8")):
            found[page.name] = set(re.findall(r"`([a-z_]+)`", match["list"]))
    return found


def test_the_docs_list_every_reason_class_the_daemon_writes() -> None:
    pages = documented()
    assert "operations.md" in pages
    for page, names in pages.items():
        assert names == {str(c) for c in ReasonClass}, page
