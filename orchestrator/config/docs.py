"""The reference's table of config keys, written from ``config.schema``'s declarations.

``python -m orchestrator.config.docs`` rewrites the table in ``docs/reference.md``;
``--check`` only says whether it is out of date (a test does the same).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from orchestrator.config.fields import Setting, default_of, sections, settings, yaml_keys
from orchestrator.config.schema import Config

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference.md"
BEGIN = "<!-- config keys: written by `python -m orchestrator.config.docs` from the schema -->"
END = "<!-- end of config keys -->"
MIB = 1024 * 1024


def shown_default(f: dataclasses.Field[Any], meta: Setting) -> str:
    """A key's default as the reference shows it."""
    if meta.shown is not None:
        return meta.shown
    value = default_of(f)
    if value is None or value == ():
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if meta.unit == "bytes" and isinstance(value, int) and value % MIB == 0:
        return f"{value // MIB} MiB"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def key_cell(f: dataclasses.Field[Any], meta: Setting) -> str:
    """One key (or its secret's keys) with its default and its words."""
    names = [f"`{f.name}_*`"] if meta.secret else [f"`{k}`" for k in yaml_keys(f, meta)]
    words = shown_default(f, meta) + (f"; {meta.doc}" if meta.doc else "")
    return f"{', '.join(names)} ({words})"


def table(config_cls: type[Any] = Config) -> str:
    """The markdown table of every section and key, between its markers."""
    rows = [BEGIN, "| section | keys (default; meaning) |", "|---|---|"]
    for name, info in sections(config_cls).items():
        cells = ", ".join(key_cell(f, meta) for f, meta in settings(info.cls))
        note = f"; {info.note}" if info.note else ""
        # A '|' in the words would end the cell.
        rows.append(f"| `{name}` | " + (cells + note).replace("|", "\\|") + " |")
    rows.append(END)
    return "\n".join(rows)


def with_table(text: str, config_cls: type[Any] = Config) -> str:
    """``text`` (the reference) with its table of config keys written anew."""
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + table(config_cls) + text[end:]


def main(argv: list[str] | None = None) -> int:
    """Rewrite the reference's table, or with ``--check`` report whether it is current."""
    parser = argparse.ArgumentParser(prog="python -m orchestrator.config.docs")
    parser.add_argument("--check", action="store_true", help="change nothing; 1 if out of date")
    args = parser.parse_args(argv)
    text = REFERENCE.read_text("utf-8")
    wanted = with_table(text)
    if wanted == text:
        return 0
    if args.check:
        print(f"{REFERENCE}: the table of config keys is out of date", file=sys.stderr)
        return 1
    REFERENCE.write_text(wanted, "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
