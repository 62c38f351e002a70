"""The inbox: only settled files are read; bad manifests are moved aside with a report."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from orchestrator.intake.inbox import Intake, is_candidate
from orchestrator.intake.roots import InputRoots
from orchestrator.store import Store
from orchestrator.store.sqlite import SQLiteStore
from orchestrator.telemetry import logs
from tests.support.clock import Clock

AUDIO = Path(__file__).resolve().parents[2] / "examples" / "audio"


# A scan here waits for every manifest it started, however busy the machine (a guard
# against a hung intake, not a timing): what one scan takes is what these tests check.
WHOLE_S = 600.0


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
    intake = Intake(
        store,
        inbox,
        tmp_path / "failed",
        tmp_path / "processed",
        settle_s=2.0,
        clock=clock,
        budget_s=WHOLE_S,
    )
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
    intake = Intake(
        store, inbox, tmp_path / "failed", tmp_path / "processed", settle_s=0, budget_s=WHOLE_S
    )
    assert await intake.scan() == 1
    failed = tmp_path / "failed"
    assert (failed / "bad.yaml").exists()
    problems = (failed / "bad.yaml.problems.txt").read_text("utf-8")
    assert "inbox/bad.yaml:4: invalid YAML" in problems
    # The same name while the first is active: refused, named. (Dropped in the same scan,
    # the two are read side by side and the first read is taken: a later drop is certain.)
    (inbox / "zdup.yml").write_text(manifest_text("good").replace("jobs", "defaults: {}\njobs"))
    assert await intake.scan() == 0
    dup = (failed / "zdup.yml.problems.txt").read_text("utf-8")
    assert "'good' is still being processed" in dup
    assert [m.name for m in await store.manifests()] == ["good"]


async def test_same_file_twice_is_taken_once(tmp_path: Path, store: Store) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    intake = Intake(
        store, inbox, tmp_path / "failed", tmp_path / "processed", settle_s=0, budget_s=WHOLE_S
    )
    (inbox / "a.yaml").write_text(manifest_text("a"), "utf-8")
    assert await intake.scan() == 1
    # A crash between the insert and the move leaves the file in the inbox: not taken twice.
    (inbox / "a.yaml").write_text(manifest_text("a"), "utf-8")
    assert await intake.scan() == 0
    assert len(await store.manifests()) == 1
    assert not (inbox / "a.yaml").exists()


async def test_a_name_in_use_is_said_with_every_other_problem(tmp_path: Path, store: Store) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    intake = Intake(
        store, inbox, tmp_path / "failed", tmp_path / "processed", settle_s=0, budget_s=WHOLE_S
    )
    (inbox / "a.yaml").write_text(manifest_text("calls"), "utf-8")
    assert await intake.scan() == 1
    # The same name again, while the first runs, with a problem of its own further down.
    (inbox / "b.yaml").write_text(manifest_text("calls") + "  - audio: nowhere/*.ogg\n", "utf-8")
    assert await intake.scan() == 0
    report = (tmp_path / "failed" / "b.yaml.problems.txt").read_text("utf-8").splitlines()
    assert len(report) == 2, report
    assert "'calls' is still being processed" in report[0]
    assert "b.yaml:5: jobs[1].audio: the glob 'nowhere/*.ogg' matches no file" in report[1]
    (manifest,) = await store.manifests()
    assert manifest.counts == {"queued": 1}


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The JSON lines the daemon would write, captured for the test."""
    stream = io.StringIO()
    logs.configure("info", "json", stream=stream)
    yield stream
    structlog.reset_defaults()


async def test_a_huge_bad_manifest_makes_one_bounded_log_line(
    tmp_path: Path, store: SQLiteStore, log_lines: io.StringIO
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    entries = "".join(f"  - audio: f{i}.ogg\n    langauge: en-US\n" for i in range(3000))
    (inbox / "huge.yaml").write_text(f"name: huge\nbase_dir: {AUDIO}\njobs:\n{entries}", "utf-8")
    intake = Intake(
        store, inbox, tmp_path / "failed", tmp_path / "processed", settle_s=0, budget_s=WHOLE_S
    )
    assert await intake.scan() == 0
    (line,) = [x for x in log_lines.getvalue().splitlines() if "manifest.rejected" in x]
    # journald splits lines longer than 48 KiB: the jq one-liners would lose this one.
    assert len(line.encode()) < 48 * 1024
    event = json.loads(line)
    assert event["problem_count"] == 3000
    assert 0 < len(event["problems"]) < 100
    assert "langauge" in event["problems"][0]
    report = (tmp_path / "failed" / "huge.yaml.problems.txt").read_text("utf-8")
    lines = report.splitlines()
    assert len(lines) < 3000
    assert lines[-1].startswith("... and ")
    assert lines[-1].endswith("more problems (3000 in all)")


async def test_a_symlink_in_the_inbox_is_refused_not_followed(
    tmp_path: Path, store: SQLiteStore
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    target = tmp_path / "elsewhere.yaml"
    target.write_text(manifest_text("elsewhere"), "utf-8")
    (inbox / "link.yaml").symlink_to(target)
    (inbox / "dangling.yaml").symlink_to(tmp_path / "nowhere.yaml")
    intake = Intake(
        store, inbox, tmp_path / "failed", tmp_path / "processed", settle_s=0, budget_s=WHOLE_S
    )
    assert await intake.scan() == 0
    for name in ("link.yaml", "dangling.yaml"):
        problems = (tmp_path / "failed" / f"{name}.problems.txt").read_text("utf-8")
        assert "symbolic link" in problems
    assert target.exists()
    assert await store.manifests() == []
    assert not list(inbox.glob("*.yaml"))


async def test_names_the_filesystem_refuses_to_lengthen_are_taken(
    tmp_path: Path, store: SQLiteStore
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    long_good = "g" * 245 + ".yaml"  # 250 bytes: the .active/ prefix would pass 255
    long_bad = "b" * 245 + ".yaml"  # and so would `.problems.txt` and a temporary name
    (inbox / long_good).write_text(manifest_text("long"), "utf-8")
    (inbox / long_bad).write_text("name: bad\njobs: [\n", "utf-8")
    odd = os.fsdecode(b"\xff\xfe-odd.yaml")  # not UTF-8: the problems report must still say so
    (inbox / odd).write_text("name: odd\njobs: [\n", "utf-8")
    intake = Intake(
        store, inbox, tmp_path / "failed", tmp_path / "processed", settle_s=0, budget_s=WHOLE_S
    )
    assert await intake.scan() == 1
    assert [m.name for m in await store.manifests()] == ["long"]
    failed = sorted(os.fsencode(p.name) for p in (tmp_path / "failed").iterdir())
    assert len(failed) == 4
    # The long name is shortened (its extension kept) so that its report's name fits too.
    (short,) = [n for n in failed if n.startswith(b"bbbb") and n.endswith(b".yaml")]
    assert short + b".problems.txt" in failed
    assert b"\xff\xfe-odd.yaml.problems.txt" in failed
    assert not [p for p in inbox.iterdir() if p.is_file()]
    assert await intake.scan() == 0  # nothing left over to fail on the next scan


async def test_a_finished_manifest_taken_again_is_filed_where_the_first_went(
    tmp_path: Path, store: Store
) -> None:
    inbox, failed, processed = tmp_path / "inbox", tmp_path / "failed", tmp_path / "processed"
    intake = Intake(store, inbox, failed, processed, settle_s=0, budget_s=WHOLE_S)
    inbox.mkdir()
    (inbox / "calls.yaml").write_text(manifest_text("calls"), "utf-8")
    assert await intake.scan() == 1
    (manifest,) = await store.manifests()
    assert await store.cancel_manifest("calls", 1.0) == 1  # its one job ends, not done
    # Only cancelled, none failed: the finisher files it in processed/.
    processed.mkdir()
    first = processed / "calls.yaml"
    os.replace(manifest.path, first)  # as the finisher files it
    await store.finish_manifest(manifest.id, str(tmp_path / "report.json"), str(first), 2.0)

    (inbox / "calls.yaml").write_text(manifest_text("calls"), "utf-8")  # the same bytes
    assert await intake.scan() == 0
    assert sorted(p.name for p in processed.iterdir()) == ["calls.1.yaml", "calls.yaml"]
    assert not failed.exists()
    assert not list(intake.active_dir.iterdir())
    assert [m.id for m in await store.manifests()] == [manifest.id]
    assert await store.counts_by_state() == {"cancelled": 1}  # nothing queued again


async def test_audio_from_a_bucket_the_config_does_not_name_is_refused(
    tmp_path: Path, store: Store
) -> None:
    inbox, failed = tmp_path / "inbox", tmp_path / "failed"
    inbox.mkdir()
    roots = InputRoots(roots=(), buckets=("audio", "shared/calls"))
    intake = Intake(
        store, inbox, failed, tmp_path / "processed", settle_s=0, budget_s=WHOLE_S, roots=roots
    )
    (inbox / "steal.yaml").write_text(
        "name: steal\njobs:\n  - s3://audio/a.ogg\n  - s3://other-tenant/private/ceo-call.ogg\n",
        "utf-8",
    )
    assert await intake.scan() == 0
    report = (failed / "steal.yaml.problems.txt").read_text("utf-8").splitlines()
    assert len(report) == 1, report
    assert "steal.yaml:4: jobs[1].audio: s3://other-tenant/private/ceo-call.ogg" in report[0]
    assert "storage.source_buckets" in report[0]
    assert await store.manifests() == []


async def test_a_finished_manifests_name_is_not_reused_by_another_file(
    tmp_path: Path, store: Store, log_lines: io.StringIO
) -> None:
    inbox, failed = tmp_path / "inbox", tmp_path / "failed"
    intake = Intake(store, inbox, failed, tmp_path / "processed", settle_s=0, budget_s=WHOLE_S)
    inbox.mkdir()
    (inbox / "calls.yaml").write_text(manifest_text("calls"), "utf-8")
    assert await intake.scan() == 1
    (manifest,) = await store.manifests()
    assert await store.cancel_manifest("calls", 1.0) == 1
    await store.finish_manifest(manifest.id, str(tmp_path / "report.json"), manifest.path, 2.0)

    # Another team's manifest, another file, the same name: its results would overwrite.
    other = manifest_text("calls").replace("jobs:", "defaults: {language: en-US}\njobs:")
    (inbox / "team-b.yaml").write_text(other, "utf-8")
    assert await intake.scan() == 0
    report = (failed / "team-b.yaml.problems.txt").read_text("utf-8")
    assert "team-b.yaml: name: a manifest named 'calls' has run already" in report
    assert "another name" in report
    assert [m.id for m in await store.manifests()] == [manifest.id]
    (line,) = [x for x in log_lines.getvalue().splitlines() if "manifest.rejected" in x]
    assert "has run already" in json.loads(line)["problems"][0]


async def test_a_small_manifest_is_taken_while_a_huge_one_is_still_being_read(
    tmp_path: Path, store: Store, log_lines: io.StringIO
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    # First in name order, and seconds of YAML to compose (every entry has an unknown key).
    entries = "".join(f"  - {{audio: s3://audio/{i}.ogg, x: 1}}\n" for i in range(8000))
    (inbox / "a-huge.yaml").write_text(f"name: huge\njobs:\n{entries}", "utf-8")
    (inbox / "b-small.yaml").write_text(manifest_text("small"), "utf-8")
    intake = Intake(store, inbox, tmp_path / "failed", tmp_path / "processed", settle_s=0)
    await intake.scan()
    await intake.settled()  # what the budget of one scan left running
    events = [json.loads(x)["event"] for x in log_lines.getvalue().splitlines()]
    order = [e for e in events if e in ("manifest.accepted", "manifest.rejected")]
    # The small one is served while the huge one is still being read, not after it.
    assert order == ["manifest.accepted", "manifest.rejected"]
    assert [m.name for m in await store.manifests()] == ["small"]
    assert (tmp_path / "failed" / "a-huge.yaml.problems.txt").exists()
