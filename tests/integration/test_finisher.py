"""Finishing manifests: one whose report cannot be written holds up no other, is said once,
and is finished once the trouble is gone."""

from __future__ import annotations

from pathlib import Path

from structlog.testing import capture_logs

from orchestrator.config import PathsConfig
from orchestrator.core.settings import RecognitionSettings
from orchestrator.service.finisher import Finisher
from orchestrator.store import NewJob
from orchestrator.store.sqlite import SQLiteStore


async def test_a_report_that_cannot_be_written_holds_up_no_other(
    tmp_path: Path, store: SQLiteStore
) -> None:
    paths = PathsConfig(
        inbox=tmp_path / "inbox",
        processed=tmp_path / "processed",
        failed=tmp_path / "failed",
        output=tmp_path / "results",
    )
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
