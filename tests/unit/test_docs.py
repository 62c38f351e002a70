"""The README is the front page: its commands table and links match the project."""

from __future__ import annotations

import re
from pathlib import Path

from orchestrator.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text("utf-8")


def test_the_commands_table_lists_every_subcommand() -> None:
    table = README[README.index("## Commands") :]
    table = table[: table.index("\n## ")]
    listed = set(re.findall(r"^\| `([a-z-]+)", table, flags=re.M))
    parser = build_parser()
    actions = [a for a in parser._actions if a.dest == "command"]
    assert listed == set(actions[0].choices or ())


def test_every_local_link_leads_somewhere() -> None:
    for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = page.read_text("utf-8")
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
            assert (page.parent / target).exists(), f"{page.name}: broken link {target}"


def test_the_code_map_names_every_folder() -> None:
    folders = {p.name for p in (REPO / "orchestrator").iterdir() if (p / "__init__.py").exists()}
    mapped = set(re.findall(r"^\| `([a-z]+)/`", README, flags=re.M))
    mapped |= set(re.findall(r"`cli\.py`, `([a-z]+)/`", README))
    assert folders == mapped
