"""One rule says where results go; the fetch stage, the finisher and the lanes all ask it."""

from __future__ import annotations

import pytest

from orchestrator.core.destinations import FILES_ONLY, Destinations, destinations


@pytest.mark.parametrize(
    ("prefix", "local", "disk", "any_node"),
    [
        (None, True, True, False),  # files only
        (None, False, True, False),  # no prefix: the disk all the same
        ("t/", True, True, False),  # both, the files first: this node writes them
        ("t/", False, False, True),  # objects only: any daemon may write them
    ],
)
def test_where_results_go(prefix: str | None, local: bool, disk: bool, any_node: bool) -> None:
    found = destinations(prefix, local)
    assert found == Destinations(disk=disk, objects_prefix=prefix)
    assert found.any_node is any_node


def test_files_only_is_the_default_place() -> None:
    assert destinations(None, True) == FILES_ONLY
