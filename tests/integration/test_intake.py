"""The inbox: only settled files are read; bad manifests are moved aside with a report."""

from __future__ import annotations

from pathlib import Path

from orchestrator.intake.inbox import Intake, is_candidate
from orchestrator.store import Store
from tests.support.clock import Clock

AUDIO = Path(__file__).resolve().parents[2] / "examples" / "audio"


def manifest_text(name: str) -> str:
    return f"name: {name}\nbase_dir: {AUDIO}\njobs:\n  - audio: greeting-mono.ogg\n"


def test_candidates() -> None:
    assert is_candidate(Path("a.yaml"))
    assert is_candidate(Path("b.YML"))
    assert not is_candidate(Path(".a.yaml.tmp"))
    assert not is_candidate(Path("a.yaml.part"))
    assert not is_candidate(Path("notes.txt"))


async def test_a_growing_file_is_not_read_until_settled(tmp_path: Path, store: Store) -> None:
    clock = Clock()
    inbox = tmp_path / "inbox"
    intake = Intake(store, inbox, tmp_path / "failed", settle_s=2.0, clock=clock)
    inbox.mkdir()
    target = inbox / "calls.yaml"
    text = manifest_text("calls")
    target.write_text(text[:20], "utf-8")  # half written: not even valid YAML yet
    assert await intake.scan() == 0
    clock.now += 5
    target.write_text(text, "utf-8")  # it grew: the clock starts again
    assert await intake.scan() == 0
    clock.now += 1
    assert await intake.scan() == 0
    assert intake.pending() == 1
    clock.now += 1.5
    assert await intake.scan() == 1
    assert not target.exists()
    (active,) = list((inbox / ".active").iterdir())
    assert active.name.endswith("-calls.yaml")
    (manifest,) = await store.manifests()
    assert manifest.counts == {"queued": 1}
    assert not (tmp_path / "failed").exists()


async def test_bad_manifest_moved_aside_with_its_problems(tmp_path: Path, store: Store) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "bad.yaml").write_text("name: bad\njobs:\n  - audio: [unclosed\n", "utf-8")
    (inbox / "good.yaml").write_text(manifest_text("good"), "utf-8")
    (inbox / "zdup.yml").write_text(manifest_text("good").replace("jobs", "defaults: {}\njobs"))
    intake = Intake(store, inbox, tmp_path / "failed", settle_s=0)
    assert await intake.scan() == 1
    failed = tmp_path / "failed"
    assert (failed / "bad.yaml").exists()
    problems = (failed / "bad.yaml.problems.txt").read_text("utf-8")
    assert "inbox/bad.yaml:4: invalid YAML" in problems
    # The same name while the first is active: refused, named.
    dup = (failed / "zdup.yml.problems.txt").read_text("utf-8")
    assert "'good' is still being processed" in dup
    assert [m.name for m in await store.manifests()] == ["good"]


async def test_same_file_twice_is_taken_once(tmp_path: Path, store: Store) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    intake = Intake(store, inbox, tmp_path / "failed", settle_s=0)
    (inbox / "a.yaml").write_text(manifest_text("a"), "utf-8")
    assert await intake.scan() == 1
    # A crash between the insert and the move leaves the file in the inbox: not taken twice.
    (inbox / "a.yaml").write_text(manifest_text("a"), "utf-8")
    assert await intake.scan() == 0
    assert len(await store.manifests()) == 1
    assert not (inbox / "a.yaml").exists()
