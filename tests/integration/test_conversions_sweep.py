"""A restart sweeps the converted audio nothing waits for, on either store, and keeps what a
job still to be sent needs, so that it is not converted again."""

from __future__ import annotations

from pathlib import Path

from orchestrator.core.jobs import State
from orchestrator.service.recovery import sweep_conversions
from orchestrator.store import Claim, Store
from tests.integration.test_store import ME, new_jobs


async def test_a_restart_keeps_what_a_job_needs_and_sweeps_the_rest(
    store: Store, tmp_path: Path
) -> None:
    await store.add_manifest("m", "/m.yaml", "d", new_jobs(3), 10.0)
    waiting, sent, failed = (await store.claim(Claim((State.QUEUED,), 3, 60.0), ME, 20.0)).jobs
    await store.update_job(
        waiting.id, None, {"state": State.UPLOADING, "content_hash": "a" * 64}, 21.0
    )
    await store.update_job(sent.id, None, {"state": State.RUNNING, "content_hash": "b" * 64}, 21.0)
    await store.update_job(failed.id, None, {"state": State.FAILED, "content_hash": "c" * 64}, 21.0)
    folder = tmp_path / "converted"
    folder.mkdir()
    for name in ("a" * 64 + ".ogg", "b" * 64 + ".ogg", "c" * 64 + ".ogg", "d" * 64 + ".ogg"):
        (folder / name).write_bytes(b"OggS")
    (folder / ("e" * 64 + ".ogg.part")).write_bytes(b"Og")  # a conversion a kill cut short
    removed = await sweep_conversions(folder, store)
    assert sorted(Path(path).name for path in removed) == [
        "b" * 64 + ".ogg",  # uploaded already: the object is what is sent
        "c" * 64 + ".ogg",  # its job failed
        "d" * 64 + ".ogg",  # no job knows it
        "e" * 64 + ".ogg.part",
    ]
    assert [path.name for path in folder.iterdir()] == ["a" * 64 + ".ogg"]
    # No folder yet (no conversion ever made): nothing to do.
    assert await sweep_conversions(tmp_path / "none", store) == []
