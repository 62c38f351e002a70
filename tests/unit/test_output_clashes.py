"""No job's transcripts overwrite another's, or the manifest's report: every output that
would share a file, or need a file's name as a directory, is refused at validate
(issue 20, item 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.intake.manifest import validate_manifest


def clashes(tmp_path: Path, *outputs: str, extra: str = "") -> list[tuple[int | None, str | None]]:
    """The (line, field) of every problem of a manifest of s3 jobs with these outputs."""
    jobs = "".join(
        f"  - audio: s3://audio/{i}.ogg\n    output: {out}\n{extra}"
        for i, out in enumerate(outputs)
    )
    path = tmp_path / "m.yaml"
    path.write_text(f"name: m\njobs:\n{jobs}", encoding="utf-8")
    checked = validate_manifest(path)
    assert checked.jobs + len(checked.problems) == len(outputs)
    return [(p.line, p.field) for p in checked.problems]


@pytest.mark.parametrize(
    "outputs",
    [
        ("c", "c.ch1"),  # stereo c writes c.ch1.txt, as does c.ch1
        ("c.ch2", "c"),  # in either order
        ("c", "c.conversation"),
        ("report",),  # the manifest's report.json and report.txt
        ("a", "a.json/b"),  # a.json is a's file, and b's directory
        ("a.json/b", "a"),
        ("report.txt/x",),
        ("x/a", "x/a.ch3.txt/z"),
    ],
)
def test_an_output_sharing_another_jobs_files_is_refused(
    tmp_path: Path, outputs: tuple[str, ...]
) -> None:
    assert clashes(tmp_path, *outputs) == [
        (2 + 2 * len(outputs), f"jobs[{len(outputs) - 1}].output")
    ]


def test_a_named_channel_is_a_suffix_too(tmp_path: Path) -> None:
    named = "    channel_names: [agent, client]\n"
    assert clashes(tmp_path, "c", "c.agent", extra=named) == [(7, "jobs[1].output")]


@pytest.mark.parametrize(
    "outputs",
    [("c", "c.d"), ("a", "a/b"), ("a", "ab.json/x"), ("reports",), ("x/report",), ("c", "d.ch1")],
)
def test_outputs_apart_are_accepted(tmp_path: Path, outputs: tuple[str, ...]) -> None:
    assert clashes(tmp_path, *outputs) == []
