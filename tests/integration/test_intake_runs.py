"""A manifest naming a folder, submitted again: a new run of the same manifest that takes
only the files no earlier run took (new or changed); ``--again`` takes them all."""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from orchestrator.intake.inbox import Intake
from orchestrator.intake.runs import again_marker
from orchestrator.store import Store
from orchestrator.telemetry import logs

AUDIO = Path(__file__).resolve().parents[2] / "examples" / "audio"
WHOLE_S = 600.0  # a guard against a hung intake, not a timing


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The JSON lines the daemon would write, captured for the test."""
    stream = io.StringIO()
    logs.configure("info", "json", stream=stream)
    yield stream
    structlog.reset_defaults()


def accepted(lines: io.StringIO) -> list[dict[str, object]]:
    events = [json.loads(line) for line in lines.getvalue().splitlines()]
    return [e for e in events if e["event"] == "manifest.accepted"]


class Inbox:
    """An inbox, a folder of recordings and the one manifest naming it."""

    def __init__(self, tmp_path: Path, store: Store) -> None:
        self.store = store
        self.inbox, self.calls = tmp_path / "inbox", tmp_path / "calls"
        self.inbox.mkdir()
        self.calls.mkdir()
        self.processed = tmp_path / "processed"
        self.intake = Intake(
            store, self.inbox, tmp_path / "failed", self.processed, settle_s=0, budget_s=WHOLE_S
        )
        self.text = f"name: day1\nbase_dir: {tmp_path}\njobs:\n  - audio: calls/\n"

    def record(self, name: str, source: str = "greeting-mono.ogg") -> Path:
        return Path(shutil.copy(AUDIO / source, self.calls / name))

    async def submit(self, *, again: bool = False) -> int:
        placed = self.inbox / "day1.yaml"
        if again:
            again_marker(placed).write_bytes(b"")
        placed.write_text(self.text, "utf-8")  # the same bytes every time
        return await self.intake.scan()

    async def finish_last(self) -> list[str]:
        """End the newest run as the finisher would; the sources of its jobs."""
        manifest = (await self.store.manifests())[-1]
        jobs = await self.store.manifest_jobs(manifest.id)
        await self.store.cancel_manifest("day1", 1.0)
        self.processed.mkdir(exist_ok=True)
        filed = self.processed / f"day1.{manifest.id}.yaml"
        os.replace(manifest.path, filed)
        await self.store.finish_manifest(manifest.id, "report.json", str(filed), 2.0)
        return sorted(Path(job.source).name for job in jobs)


async def test_a_folder_submitted_again_takes_only_the_new_and_changed_files(
    tmp_path: Path, store: Store, log_lines: io.StringIO
) -> None:
    box = Inbox(tmp_path, store)
    box.record("a.ogg")
    changed = box.record("b.ogg")
    assert await box.submit() == 1
    assert await box.finish_last() == ["a.ogg", "b.ogg"]

    box.record("c.ogg")  # a new recording
    shutil.copy(AUDIO / "voicemail-mono.wav", changed)  # b.ogg rewritten in place
    assert await box.submit() == 1
    assert await box.finish_last() == ["b.ogg", "c.ogg"]
    first, second = (await store.manifests())[:2]
    assert (first.name, first.digest) == (second.name, second.digest)  # runs of one file
    assert second.id != first.id
    said = accepted(log_lines)[-1]
    assert (said["jobs"], said["taken_before"], said["again"]) == (2, 1, False)


async def test_a_folder_with_nothing_new_makes_an_empty_run_that_says_so(
    tmp_path: Path, store: Store, log_lines: io.StringIO
) -> None:
    box = Inbox(tmp_path, store)
    box.record("a.ogg")
    assert await box.submit() == 1
    await box.finish_last()
    assert await box.submit() == 1
    assert await box.finish_last() == []
    said = accepted(log_lines)[-1]
    assert (said["jobs"], said["taken_before"]) == (0, 1)


async def test_again_takes_every_file(tmp_path: Path, store: Store, log_lines: io.StringIO) -> None:
    box = Inbox(tmp_path, store)
    box.record("a.ogg")
    box.record("b.ogg")
    assert await box.submit() == 1
    await box.finish_last()
    assert await box.submit(again=True) == 1
    assert await box.finish_last() == ["a.ogg", "b.ogg"]
    assert accepted(log_lines)[-1]["again"] is True
    assert not again_marker(box.inbox / "day1.yaml").exists()  # used once


async def test_submitted_again_while_its_run_is_active_is_taken_once(
    tmp_path: Path, store: Store
) -> None:
    box = Inbox(tmp_path, store)
    box.record("a.ogg")
    assert await box.submit() == 1
    box.record("b.ogg")
    assert await box.submit() == 0  # the same file, still running: known
    (manifest,) = await store.manifests()
    assert manifest.counts == {"queued": 1}


async def test_a_list_of_single_files_is_not_run_again(tmp_path: Path, store: Store) -> None:
    box = Inbox(tmp_path, store)
    box.record("a.ogg")
    box.text = box.text.replace("calls/", "calls/a.ogg")
    assert await box.submit() == 1
    await box.finish_last()
    assert await box.submit() == 0  # filed where the first went, as before
    assert len(await store.manifests()) == 1


async def test_a_standing_manifest_leaves_fresh_files_to_its_watch(
    tmp_path: Path, store: Store, log_lines: io.StringIO
) -> None:
    box = Inbox(tmp_path, store)
    box.intake.watch_settle_s = 60.0
    old = box.record("old.ogg")
    os.utime(old, (old.stat().st_atime - 120, old.stat().st_mtime - 120))
    box.record("fresh.ogg")  # written just now: perhaps still being written
    box.text = box.text.replace("jobs:", "watch: true\njobs:")
    assert await box.submit() == 1
    (manifest,) = await store.manifests()
    assert manifest.standing
    assert [Path(j.source).name for j in await store.manifest_jobs(manifest.id)] == ["old.ogg"]
    assert accepted(log_lines)[-1]["standing"] is True


async def test_a_standing_manifest_is_not_finished_until_closed_or_cancelled(
    tmp_path: Path, store: Store
) -> None:
    box = Inbox(tmp_path, store)
    box.text = box.text.replace("jobs:", "watch: true\njobs:")
    assert await box.submit() == 1  # an empty folder is fine: the files come later
    (manifest,) = await store.manifests()
    assert await store.manifests_to_finish(None) == []
    assert [m.id for m in await store.open_standing()] == [manifest.id]
    assert await store.cancel_manifest("day1", 1.0) == 0
    assert await store.open_standing() == []
    assert await store.manifests_to_finish(None) == [manifest.id]
    assert not await store.add_jobs(manifest.id, [], 2.0)  # closed: takes nothing more
    assert await store.close_standing("day1") == 0


async def test_again_runs_a_list_of_single_files_again(tmp_path: Path, store: Store) -> None:
    box = Inbox(tmp_path, store)
    box.record("a.ogg")
    box.text = box.text.replace("calls/", "calls/a.ogg")
    assert await box.submit() == 1
    await box.finish_last()
    assert await box.submit(again=True) == 1
    assert await box.finish_last() == ["a.ogg"]
    assert len(await store.manifests()) == 2
