"""SQL kept in ``.sql`` files beside each store: named queries and numbered migrations."""

from __future__ import annotations

import re
from importlib import resources


def load_queries(package: str) -> dict[str, str]:
    """The queries of ``package``'s ``sql/queries.sql``, each after a ``-- name:`` line."""
    text = resources.files(package).joinpath("sql").joinpath("queries.sql").read_text("utf-8")
    queries: dict[str, str] = {}
    for block in re.split(r"^-- name: ", text, flags=re.M)[1:]:
        name, _, body = block.partition("\n")
        queries[name.strip()] = body.strip()
    return queries


def load_migrations(package: str) -> list[tuple[int, str]]:
    """``(number, script)`` of every ``sql/NNNN_name.sql`` of ``package``, in order."""
    found = []
    for entry in resources.files(package).joinpath("sql").iterdir():
        match = re.fullmatch(r"(\d{4})_[a-z0-9_]+\.sql", entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text("utf-8")))
    return sorted(found)
