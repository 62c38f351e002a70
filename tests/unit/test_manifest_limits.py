"""What the config lets a manifest ask for, beyond local paths: audio from the configured
buckets only, and a priority within bounds (issue 20, items 1 and 16)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator.config import config_from_mapping, load_config
from orchestrator.core.errors import Problem, UserInputError
from orchestrator.intake.manifest import load_manifest, validate_manifest
from orchestrator.intake.roots import InputRoots


def roots(tmp_path: Path, **storage: Any) -> InputRoots:
    intake = storage.pop("intake", {})
    config = config_from_mapping(
        {"storage": {"bucket": "audio", **storage}, "intake": intake}, base_dir=tmp_path
    )
    return InputRoots.of(config)


def refused(path: Path, allowed: InputRoots | None) -> list[Problem]:
    with pytest.raises(UserInputError) as info:
        load_manifest(path, allowed)
    return info.value.problems


def manifest(tmp_path: Path, jobs: str) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(f"name: m\njobs:\n{jobs}", encoding="utf-8")
    return path


def test_audio_from_another_bucket_is_refused(tmp_path: Path) -> None:
    path = manifest(
        tmp_path, "  - s3://audio/calls/a.ogg\n  - s3://other-tenant/private/ceo-call.ogg\n"
    )
    (problem,) = refused(path, roots(tmp_path))
    assert (problem.file, problem.line, problem.field) == (str(path), 4, "jobs[1].audio")
    assert "other-tenant" in problem.message
    assert "storage.source_buckets" in problem.message
    # Without a config (validate alone) nothing says which buckets are allowed.
    assert len(load_manifest(path).jobs) == 2


def test_source_buckets_allow_a_bucket_or_a_prefix_of_one(tmp_path: Path) -> None:
    allowed = roots(tmp_path, source_buckets=["archive", "shared/calls"])
    ok = manifest(
        tmp_path,
        "  - s3://audio/a.ogg\n  - s3://archive/x/b.ogg\n  - s3://shared/calls/2024/c.ogg\n",
    )
    assert len(load_manifest(ok, allowed).jobs) == 3
    bad = manifest(
        tmp_path,
        "  - s3://shared/callsx/a.ogg\n  - s3://shared/other.ogg\n  - s3://archives/b.ogg\n",
    )
    assert [p.field for p in refused(bad, allowed)] == [
        "jobs[0].audio",
        "jobs[1].audio",
        "jobs[2].audio",
    ]


def test_source_buckets_are_checked_in_the_config(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "storage:\n  bucket: audio\n  source_buckets: [okay, Bad_Bucket/x, 'okay/../up', 5]\n",
        encoding="utf-8",
    )
    with pytest.raises(UserInputError) as info:
        load_config(path, env={})
    fields = [p.field for p in info.value.problems]
    assert fields == [
        "storage.source_buckets[1]",
        "storage.source_buckets[2]",
        "storage.source_buckets[3]",
    ]


@pytest.mark.parametrize("value", ["12345678901234567890123456", "1001", "-1001"])
def test_priority_is_bounded(tmp_path: Path, value: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(f"name: m\njobs:\n  - audio: s3://audio/a.ogg\n    priority: {value}\n")
    checked = validate_manifest(path)
    assert [(p.line, p.field) for p in checked.problems] == [(4, "jobs[0].priority")]
    assert "1000" in checked.problems[0].message


def test_the_config_caps_the_priority_a_manifest_may_ask(tmp_path: Path) -> None:
    allowed = roots(tmp_path, intake={"max_priority": 5})
    path = tmp_path / "m.yaml"
    path.write_text(
        "name: m\ndefaults:\n  priority: 6\njobs:\n  - audio: s3://audio/a.ogg\n"
        "  - audio: s3://audio/b.ogg\n    priority: 5\n"
    )
    (problem,) = refused(path, allowed)
    assert (problem.line, problem.field) == (3, "defaults.priority")
    assert "intake.max_priority" in problem.message
    assert len(load_manifest(path).jobs) == 2  # no config: the fixed bounds only
