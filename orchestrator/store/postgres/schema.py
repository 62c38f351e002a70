"""The PostgreSQL store's SQL: named queries (the shared ones of ``store/sql`` and its own;
``:name`` parameters, sent as ``$1``, ``$2``...) and migrations, from ``sql/``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.store.sqlfiles import load_migrations, load_queries

# ``:name`` not preceded by a colon or a word character (so ``::text`` casts are left alone).
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@dataclass(frozen=True)
class Query:
    """One query: its text with positional parameters, and their names in order."""

    name: str
    text: str
    params: tuple[str, ...]

    def args(self, values: Mapping[str, Any]) -> list[Any]:
        """The positional arguments for ``values`` (KeyError names a missing one)."""
        missing = [p for p in self.params if p not in values]
        if missing:
            raise KeyError(f"query {self.name}: no value for {', '.join(missing)}")
        return [values[p] for p in self.params]


def compile_query(name: str, text: str) -> Query:
    """``text`` with each ``:param`` replaced by its ``$n`` (the same name, the same n)."""
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        param = match.group(1)
        if param not in order:
            order.append(param)
        return f"${order.index(param) + 1}"

    return Query(name, _PARAM.sub(number, text), tuple(order))


PACKAGE = "orchestrator.store.postgres"
Q = {name: compile_query(name, text) for name, text in load_queries(PACKAGE).items()}
MIGRATIONS = load_migrations(PACKAGE)
SCHEMA_VERSION = MIGRATIONS[-1][0]
