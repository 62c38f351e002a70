"""Standing manifests in-process: a new file is taken once it has settled, found by the
change notifications at once where they work, and by the bounded rescan where they do not."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from orchestrator.intake.inbox import Intake
from orchestrator.intake.standing import Standing
from orchestrator.store import Store
from tests.support.clock import Clock

AUDIO = Path(__file__).resolve().parents[2] / "examples" / "audio"
LIMIT_S = 60.0  # a guard against a hang, not a timing


async def standing_manifest(tmp_path: Path, store: Store) -> Path:
    """An open standing manifest naming the empty folder ``calls/``; the folder."""
    inbox, calls = tmp_path / "inbox", tmp_path / "calls"
    inbox.mkdir()
    calls.mkdir()
    intake = Intake(store, inbox, tmp_path / "failed", tmp_path / "processed", settle_s=0)
    text = f"name: desk\nbase_dir: {tmp_path}\nwatch: true\njobs:\n  - audio: calls/\n"
    (inbox / "desk.yaml").write_text(text, "utf-8")
    assert await intake.scan() == 1
    return calls


async def test_the_rescan_takes_a_new_file_once_it_has_settled(
    tmp_path: Path, store: Store
) -> None:
    calls = await standing_manifest(tmp_path, store)
    clock = Clock()
    standing = Standing(store, None, lambda: 5.0, lambda: 10.0, clock=clock)
    standing.events.close()  # as on a network mount: no notifications at all
    assert await standing.look() == 0
    shutil.copy(AUDIO / "greeting-mono.ogg", calls / "a.ogg")
    clock.now += 10  # the next walk sees it...
    assert await standing.look() == 0
    clock.now += 4  # ...unchanged, but not for long enough yet
    assert await standing.look() == 0
    with (calls / "a.ogg").open("ab") as handle:
        handle.write(b"more")  # still being written: it waits again
    clock.now += 4
    assert await standing.look() == 0
    clock.now += 5
    assert await standing.look() == 1
    (manifest,) = await store.manifests()
    assert [Path(j.source).name for j in await store.manifest_jobs(manifest.id)] == ["a.ogg"]
    clock.now += 100
    assert await standing.look() == 0  # taken once


async def test_a_notification_walks_the_folder_before_the_rescan(
    tmp_path: Path, store: Store
) -> None:
    calls = await standing_manifest(tmp_path, store)
    woke = asyncio.Event()
    standing = Standing(store, None, lambda: 0.0, lambda: 3600.0, on_change=woke.set)
    assert standing.events.available
    events = asyncio.create_task(standing.run_events())
    try:
        assert await standing.look() == 0  # the first walk, and the folders watched
        (calls / "2024").mkdir()  # a folder made after the watch began is watched too
        await asyncio.wait_for(woke.wait(), LIMIT_S)
        woke.clear()
        shutil.copy(AUDIO / "greeting-mono.ogg", calls / "2024" / "a.ogg")
        await asyncio.wait_for(woke.wait(), LIMIT_S)
        assert await standing.look() == 1  # an hour before the rescan would have found it
    finally:
        events.cancel()
        await asyncio.gather(events, return_exceptions=True)
