from __future__ import annotations

from orchestrator.cli import build_parser


def test_parser_builds() -> None:
    assert build_parser().prog == "speechkit-orchestrator"
