"""SQL kept in ``.sql`` files: named queries (``store/sql/queries.sql`` holds those both
databases run as they are, each dialect's ``sql/queries.sql`` its own) and each dialect's
numbered migrations."""

from __future__ import annotations

import re
from importlib import resources

SHARED = "orchestrator.store"


def _read_queries(package: str) -> dict[str, str]:
    text = resources.files(package).joinpath("sql").joinpath("queries.sql").read_text("utf-8")
    queries: dict[str, str] = {}
    for block in re.split(r"^-- name: ", text, flags=re.M)[1:]:
        name, _, body = block.partition("\n")
        queries[name.strip()] = body.strip()
    return queries


def load_queries(package: str) -> dict[str, str]:
    """The shared queries and those of ``package``'s ``sql/queries.sql``, each after a
    ``-- name:`` line; a name in both is an error (each query lives in one place)."""
    shared, own = _read_queries(SHARED), _read_queries(package)
    both = sorted(shared.keys() & own.keys())
    if both:
        raise ValueError(f"{package}: queries also in store/sql/queries.sql: {', '.join(both)}")
    return {**shared, **own}


def load_migrations(package: str) -> list[tuple[int, str]]:
    """``(number, script)`` of every ``sql/NNNN_name.sql`` of ``package``, in order."""
    found = []
    for entry in resources.files(package).joinpath("sql").iterdir():
        match = re.fullmatch(r"(\d{4})_[a-z0-9_]+\.sql", entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text("utf-8")))
    return sorted(found)
