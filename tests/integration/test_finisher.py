"""Finishing manifests: one whose report cannot be written holds up no other, is said once,
and is finished once the trouble is gone."""

from __future__ import annotations

import json
from pathlib import Path

from structlog.testing import capture_logs

from orchestrator.config import PathsConfig
from orchestrator.core.destinations import destinations
from orchestrator.core.settings import RecognitionSettings
from orchestrator.service.finisher import Finisher
from orchestrator.storage.local import LocalStorage
from orchestrator.store import NewJob
from orchestrator.store.sqlite import SQLiteStore


def paths_under(root: Path) -> PathsConfig:
    """The daemon's folders under ``root``."""
    return PathsConfig(
        inbox=root / "inbox",
        processed=root / "processed",
        failed=root / "failed",
        output=root / "results",
    )


async def test_a_report_that_cannot_be_written_holds_up_no_other(
    tmp_path: Path, store: SQLiteStore
) -> None:
    paths = paths_under(tmp_path)
    job = NewJob("/audio/a.ogg", "a", RecognitionSettings())
    for name in ("blocked", "fine"):
        await store.add_manifest(name, str(tmp_path / f"{name}.yaml"), name, [job], 10.0)
        await store.cancel_manifest(name, 11.0)
    # A file where the manifest's results directory should be: the report cannot go there.
    paths.output.mkdir()
    (paths.output / "blocked").write_text("in the way", "utf-8")
    finisher = Finisher(store, lambda: paths)
    with capture_logs() as events:
        await finisher.finish_all()
        await finisher.finish_all()
    errors = [e for e in events if e["event"] == "manifest.finish_error"]
    assert len(errors) == 1  # said once, not at every try
    assert errors[0]["manifest"] == "blocked"
    assert str(paths.output / "blocked") in errors[0]["error"]
    assert [e["manifest"] for e in events if e["event"] == "manifest.finished"] == ["fine"]
    assert (paths.output / "fine" / "report.json").exists()

    (paths.output / "blocked").unlink()
    await finisher.finish_all()
    assert (paths.output / "blocked" / "report.json").exists()
    assert await store.manifests_to_finish() == []


async def test_reports_go_where_the_results_go(tmp_path: Path, store: SQLiteStore) -> None:
    paths = paths_under(tmp_path)
    job = NewJob("/audio/a.ogg", "a", RecognitionSettings())
    (tmp_path / "m.yaml").write_text("name: m\n", "utf-8")
    await store.add_manifest("m", str(tmp_path / "m.yaml"), "m", [job], 10.0)
    await store.cancel_manifest("m", 11.0)
    # Object storage in a directory: S3 itself is not the subject here.
    async with LocalStorage(tmp_path / "objects", "bucket") as storage:
        finisher = Finisher(
            store, lambda: paths, storage=storage, results=destinations("out/", local=False)
        )
        await finisher.finish_all()
        report = await storage.get_bytes("out/m/report.json", 1 << 20)
        assert await storage.head("out/m/report.txt") is not None
    assert report is not None
    assert json.loads(report)["counts"] == {"cancelled": 1}
    assert not (paths.output / "m").exists()  # objects only: no files
    (finished,) = await store.manifests()
    assert finished.report_path == "s3://bucket/out/m/report.json"
    # Cancelled by the operator, none failed: filed in processed/.
    assert finished.path == str(paths.processed / "m.yaml")
