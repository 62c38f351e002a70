"""Naming one run of a manifest: several manifests share a name (a folder manifest
submitted again is a new run of it); ``NAME#RUN`` names the RUN-th, counted from 1 in the
order they came in (pure)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

_RUN_RE = re.compile(r"(?s)(.+)#([1-9][0-9]{0,8})")


def parse_run(text: str) -> tuple[str, int | None]:
    """``NAME#RUN`` -> (NAME, RUN); a plain name -> (name, None): its newest run."""
    found = _RUN_RE.fullmatch(text)
    if found is None:
        return text, None
    return found.group(1), int(found.group(2))


def run_label(name: str, run: int, runs: int) -> str:
    """How ``status`` names a manifest: ``NAME`` alone, ``NAME#RUN`` when it has runs."""
    return name if runs <= 1 else f"{name}#{run}"


def run_labels(manifests: Iterable[tuple[int, str]]) -> dict[int, str]:
    """Each manifest's label by id, from (id, name) pairs: ``NAME#RUN`` for the names
    with several runs (numbered in id order), the name alone otherwise."""
    ordered = sorted(manifests)
    runs = Counter(name for _id, name in ordered)
    seen: Counter[str] = Counter()
    labels = {}
    for manifest_id, name in ordered:
        seen[name] += 1
        labels[manifest_id] = run_label(name, seen[name], runs[name])
    return labels
