"""RELIABILITY.md names the tests that prove each guarantee: every one must exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_test_named_in_reliability_md_exists() -> None:
    text = (ROOT / "RELIABILITY.md").read_text("utf-8")
    named = set(re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", text))
    assert len(named) > 20
    for file, test in sorted(named):
        source = (ROOT / file).read_text("utf-8")
        assert re.search(rf"^(async )?def {test}\(", source, re.M), f"{file}::{test}"
