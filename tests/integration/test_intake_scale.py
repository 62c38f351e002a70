"""A directory manifest of 100,000 files taken in by the daemon's intake: streamed from the
walk into the store in batches, every job there in order; one problem after the last of
them still rejects the manifest whole and leaves nothing behind. Counted, not timed (the
time and memory it takes are measured by ``python -m bench.intake``)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from orchestrator.intake.inbox import Intake
from orchestrator.store.sqlite import SQLiteStore

# Directories of 100,000 files: `make test` runs them, `make test-fast` does not.
pytestmark = pytest.mark.slow

FILES = 100_000


@pytest.fixture(scope="module")
def calls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of ``FILES`` empty ``.wav`` files (the intake opens none of them): hard
    links to a few, which the disk makes twice as fast as new files."""
    root = tmp_path_factory.mktemp("big")
    folder = root / "calls"
    folder.mkdir()
    original = root / "empty"
    for index in range(FILES):
        if index % 1000 == 0:
            original = folder / f"call-{index:06d}.wav"
            original.touch()
        else:
            os.link(original, folder / f"call-{index:06d}.wav")
    return root


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    opened = await SQLiteStore.open(tmp_path / "state.sqlite3")
    yield opened
    await opened.close()


def put(inbox: Path, name: str, text: str) -> Path:
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / f"{name}.yaml"
    path.write_text(text, "utf-8")
    return path


async def test_a_directory_of_100000_files_goes_in_whole_and_in_order(
    tmp_path: Path, calls: Path, store: SQLiteStore
) -> None:
    inbox = tmp_path / "inbox"
    path = put(inbox, "big", f"name: big\nbase_dir: {calls}\njobs:\n  - audio: calls\n")
    intake = Intake(store, inbox, tmp_path / "failed", tmp_path / "processed", settle_s=0)
    with capture_logs() as events:
        assert await intake.take(path)
    (accepted,) = [e for e in events if e["event"] == "manifest.accepted"]
    assert accepted["jobs"] == FILES
    assert await store.counts_by_state() == {"queued": FILES}
    with sqlite3.connect(tmp_path / "state.sqlite3") as db:
        outputs = [row[0] for row in db.execute("SELECT output FROM jobs ORDER BY id")]
    # Inserted in the order of the files' paths, each once.
    assert outputs == [f"calls/call-{index:06d}" for index in range(FILES)]


async def test_a_problem_after_the_last_file_rejects_it_all(
    tmp_path: Path, calls: Path, store: SQLiteStore
) -> None:
    inbox = tmp_path / "inbox"
    path = put(
        inbox,
        "late",
        f"name: late\nbase_dir: {calls}\njobs:\n"
        "  - audio: calls\n"  # 4: 100,000 jobs, all fine
        "  - audio: calls/call-000001.wav\n"  # 5
        "    output: calls/call-000000\n"  # 6: an output the directory made already
        "  - audio: s3://bucket/*.wav\n",  # 7
    )
    intake = Intake(store, inbox, tmp_path / "failed", tmp_path / "processed", settle_s=0)
    with capture_logs() as events:
        assert not await intake.take(path)
    (rejected,) = [e for e in events if e["event"] == "manifest.rejected"]
    assert rejected["problem_count"] == 2
    report = (tmp_path / "failed" / "late.yaml.problems.txt").read_text("utf-8").splitlines()
    assert [line.split(": ")[0:2] for line in report] == [
        [f"{path}:6", "jobs[1].output"],
        [f"{path}:7", "jobs[2].audio"],
    ]
    # The batches inserted before the problem was met were rolled back with the manifest.
    assert await store.counts_by_state() == {}
    assert await store.manifests() == []
