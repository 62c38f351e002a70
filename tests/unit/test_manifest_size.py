"""A manifest costs time and memory in proportion to its bytes: no YAML aliases (each would
expand an entry again), and reading stops at a bound of problems (issue 20, item 8)."""

from __future__ import annotations

from pathlib import Path

from orchestrator.intake.manifest import MAX_PROBLEMS, ManifestReading, validate_manifest


def test_aliases_are_refused_in_a_manifest(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    entries = "".join("  - *g\n" for _ in range(1000))
    path.write_text(f"name: m\njobs:\n  - &g s3://audio/a.ogg\n{entries}", encoding="utf-8")
    checked = validate_manifest(path)
    assert checked.jobs == 0
    (problem,) = checked.problems
    assert problem.line == 4
    assert "alias" in problem.message


def test_reading_stops_after_a_bound_of_problems(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    entries = "".join(
        f"  - {{audio: s3://audio/{i}.ogg, x: 1}}\n" for i in range(MAX_PROBLEMS + 50)
    )
    path.write_text(f"name: m\njobs:\n{entries}", encoding="utf-8")
    reading = ManifestReading(path, None)
    assert len(list(reading.jobs())) < MAX_PROBLEMS + 50
    found = reading.problems
    assert len(found) == MAX_PROBLEMS + 1
    assert "stopped reading" in found[-1].message
    assert found[-1].field == f"jobs[{MAX_PROBLEMS}]"
