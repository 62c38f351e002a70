"""Exporting a manifest's transcripts: its jobs read from the real stores a page at a time,
their JSON outputs from the disk or from object storage, in memory that does not grow with
the manifest; and a manifest that asks for its dataset gets it beside its report."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from orchestrator.commands.export import summary
from orchestrator.core.destinations import destinations
from orchestrator.core.jobs import Job, ManifestStatus, State
from orchestrator.core.output_options import OutputOptions
from orchestrator.core.settings import RecognitionSettings
from orchestrator.core.transcript import Transcript, Utterance, Word
from orchestrator.outputs.render import render_json
from orchestrator.service import export
from orchestrator.service.export import ResultsAt, export_rows, find_manifest, manifest_jobs
from orchestrator.service.finisher import DATASET_FILE, Finisher
from orchestrator.storage.local import LocalStorage
from orchestrator.store import NewJob, Store
from orchestrator.store.sqlite import SQLiteStore
from tests.integration.test_finisher import paths_under

SETTINGS = RecognitionSettings()
DATASET = OutputOptions(formats=("json", "txt", "dataset"))


def transcript_json(source: str) -> str:
    """A mono job's JSON output: two utterances, three words."""
    transcript = Transcript(
        channels=(1,),
        utterances=(
            Utterance(
                1, "One two.", 0.0, 1.0, (Word("one", 0.0, 0.4, 0.9), Word("two", 0.5, 1.0, 0.5))
            ),
            Utterance(1, "Three.", 1.5, 2.0, (Word("three", 1.5, 2.0, 1.0),)),
        ),
    )
    job = {"source": source, "settings": {}, "audio": {"duration_s": 2.0, "channels": 1}}
    return render_json(transcript, job=job)


def new_jobs(count: int, options: OutputOptions = DATASET) -> Iterator[NewJob]:
    for i in range(count):
        yield NewJob(f"/audio/{i}.wav", f"day/{i}", SETTINGS, options)


async def finish_jobs(store: Store, jobs: list[Job], state: State = State.DONE) -> None:
    for job in jobs:
        assert await store.update_job(job.id, None, {"state": state, "finished_at": 5.0}, 5.0)


def write_json(root: Path, job: Job) -> None:
    path = root / job.manifest_name / f"{job.output}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(transcript_json(job.source), "utf-8")


async def test_jobs_come_a_page_at_a_time_in_order(store: Store) -> None:
    first, _ = await store.add_manifest("big", "/big.yaml", "b", new_jobs(export.PAGE * 2 + 3), 1.0)
    await store.add_manifest("other", "/o.yaml", "o", new_jobs(4), 1.0)
    found = [job async for job in manifest_jobs(store, first)]
    assert [job.output for job in found] == [f"day/{i}" for i in range(export.PAGE * 2 + 3)]
    assert len({job.id for job in found}) == len(found)
    page = await store.manifest_jobs_page(first, found[9].id, 5)
    assert [job.id for job in page] == [job.id for job in found[10:15]]


async def test_done_jobs_exported_the_others_counted(tmp_path: Path, store: Store) -> None:
    manifest_id, _ = await store.add_manifest("calls", "/c.yaml", "c", new_jobs(4), 1.0)
    a, b, c, d = await store.manifest_jobs(manifest_id)
    await finish_jobs(store, [a, b, c])
    await finish_jobs(store, [d], State.FAILED)
    results = tmp_path / "results"
    for job in (a, c):
        write_json(results, job)  # b's JSON is not there
    manifest = find_manifest(await store.manifests(), "calls")
    assert manifest is not None
    stream = io.BytesIO()
    where = ResultsAt(destinations(None, True), results)
    done = await export_rows(store, manifest, where, "jsonl", stream)
    assert (done.jobs, done.rows, done.not_done, done.missing) == (2, 4, 1, 1)
    assert done.first_missing == str(results / "calls" / "day" / "1.json")
    rows = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(r["job_id"], r["output"], r["text"]) for r in rows] == [
        (a.id, "day/0", "One two."),
        (a.id, "day/0", "Three."),
        (c.id, "day/2", "One two."),
        (c.id, "day/2", "Three."),
    ]
    assert rows[0]["words"][1]["text"] == "two"
    assert rows[0]["confidence_min"] == 0.5


async def test_the_outputs_read_from_object_storage(tmp_path: Path, store: SQLiteStore) -> None:
    manifest_id, _ = await store.add_manifest("calls", "/c.yaml", "c", new_jobs(2), 1.0)
    jobs = await store.manifest_jobs(manifest_id)
    await finish_jobs(store, jobs)
    (manifest,) = await store.manifests()
    async with LocalStorage(tmp_path / "objects", "bucket") as storage:
        for job in jobs:
            await storage.put_text(f"out/calls/{job.output}.json", transcript_json(job.source))
        where = ResultsAt(destinations("out/", local=False), tmp_path / "nowhere", storage)
        stream = io.BytesIO()
        done = await export_rows(store, manifest, where, "csv", stream)
    assert (done.jobs, done.rows, done.missing) == (2, 4, 0)
    assert stream.getvalue().decode("utf-8").count("\r\n") == 1 + 4
    assert not (tmp_path / "nowhere").exists()


async def test_a_json_output_that_is_not_json_is_named(tmp_path: Path, store: SQLiteStore) -> None:
    manifest_id, _ = await store.add_manifest("calls", "/c.yaml", "c", new_jobs(1), 1.0)
    (job,) = await store.manifest_jobs(manifest_id)
    await finish_jobs(store, [job])
    path = tmp_path / "calls" / "day" / "0.json"
    path.parent.mkdir(parents=True)
    path.write_text("{half", "utf-8")
    (manifest,) = await store.manifests()
    with pytest.raises(ValueError, match=rf"^{path}: not a JSON document$"):
        await export_rows(
            store, manifest, ResultsAt(destinations(None, True), tmp_path), "jsonl", io.BytesIO()
        )


# --- bounded memory -------------------------------------------------------------------


def synthetic_store(root: Path, count: int) -> Path:
    """A store of ``count`` done jobs of manifest "big", each with its JSON output on disk."""
    path = root / "state.sqlite3"

    async def fill() -> None:
        store = await SQLiteStore.open(path)
        await store.add_manifest("big", "/big.yaml", "d", new_jobs(count), 0.0)
        await store.close()

    asyncio.run(fill())
    with sqlite3.connect(path) as db:
        db.execute("UPDATE jobs SET state = 'done'")
    document = transcript_json("/audio/x.wav")
    folder = root / "results" / "big" / "day"
    folder.mkdir(parents=True)
    for i in range(count):
        (folder / f"{i}.json").write_text(document, "utf-8")
    return path


def export_peak(root: Path, fmt: str) -> tuple[int, int]:
    """The rows of manifest "big" exported to a file, and the peak of memory allocated
    meanwhile (the store's opening included)."""

    async def go() -> int:
        store = await SQLiteStore.open(root / "state.sqlite3")
        try:
            manifest = find_manifest(await store.manifests(), "big")
            assert manifest is not None
            where = ResultsAt(destinations(None, True), root / "results")
            with (root / f"out.{fmt}").open("wb") as handle:
                done = await export_rows(store, manifest, where, fmt, handle)
            return done.rows
        finally:
            await store.close()

    tracemalloc.start()
    try:
        rows = asyncio.run(go())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return rows, peak


@pytest.mark.slow
def test_memory_does_not_grow_with_the_manifest(tmp_path: Path) -> None:
    small, big = 5_000, 20_000
    synthetic_store(tmp_path / "small", small)
    synthetic_store(tmp_path / "big", big)
    for fmt in ("jsonl", "parquet"):
        small_rows, small_peak = export_peak(tmp_path / "small", fmt)
        big_rows, big_peak = export_peak(tmp_path / "big", fmt)
        assert (small_rows, big_rows) == (2 * small, 2 * big)
        # Four times the jobs, the same peak give or take (all of them held would be 4x).
        assert big_peak < small_peak * 1.3, (fmt, small_peak, big_peak)


# --- the dataset a manifest asks for ----------------------------------------------------


async def dataset_manifest(tmp_path: Path, store: Store, options: OutputOptions) -> list[Job]:
    (tmp_path / "m.yaml").write_text("name: m\n", "utf-8")
    manifest_id, _ = await store.add_manifest(
        "m", str(tmp_path / "m.yaml"), "m", new_jobs(3, options), 1.0
    )
    jobs = await store.manifest_jobs(manifest_id)
    await finish_jobs(store, jobs)
    return jobs


async def test_a_manifest_asking_for_its_dataset_gets_it_beside_its_report(
    tmp_path: Path, store: Store
) -> None:
    paths = paths_under(tmp_path)
    jobs = await dataset_manifest(tmp_path, store, DATASET)
    for job in jobs:
        write_json(paths.output, job)
    with capture_logs() as events:
        await Finisher(store, lambda: paths).finish_all()
    folder = paths.output / "m"
    rows = [json.loads(line) for line in (folder / DATASET_FILE).read_text("utf-8").splitlines()]
    assert len(rows) == 6
    assert {row["job_id"] for row in rows} == {job.id for job in jobs}
    report: dict[str, Any] = json.loads((folder / "report.json").read_text("utf-8"))
    assert report["dataset"] == {
        "file": str(folder / DATASET_FILE),
        "jobs": 3,
        "rows": 6,
        "missing": 0,
    }
    (event,) = [e for e in events if e["event"] == "manifest.dataset"]
    assert event["rows"] == 6
    finished = [e["event"] for e in events if e["event"].startswith("manifest.")]
    assert finished == ["manifest.dataset", "manifest.finished"]


async def test_no_dataset_unless_asked(tmp_path: Path, store: SQLiteStore) -> None:
    paths = paths_under(tmp_path)
    jobs = await dataset_manifest(tmp_path, store, OutputOptions())
    for job in jobs:
        write_json(paths.output, job)
    await Finisher(store, lambda: paths).finish_all()
    assert (paths.output / "m" / "report.json").exists()
    assert not (paths.output / "m" / DATASET_FILE).exists()
    assert "dataset" not in json.loads((paths.output / "m" / "report.json").read_text("utf-8"))


async def test_the_dataset_goes_where_the_results_go(tmp_path: Path, store: SQLiteStore) -> None:
    paths = paths_under(tmp_path)
    jobs = await dataset_manifest(tmp_path, store, DATASET)
    async with LocalStorage(tmp_path / "objects", "bucket") as storage:
        for job in jobs:
            await storage.put_text(f"out/m/{job.output}.json", transcript_json(job.source))
        finisher = Finisher(
            store, lambda: paths, storage=storage, results=destinations("out/", local=False)
        )
        await finisher.finish_all()
        data = await storage.get_bytes(f"out/m/{DATASET_FILE}", 1 << 20)
        report = await storage.get_bytes("out/m/report.json", 1 << 20)
    assert data is not None
    assert report is not None
    assert len(data.splitlines()) == 6
    assert json.loads(report)["dataset"]["object"] == f"s3://bucket/out/m/{DATASET_FILE}"
    assert not (paths.output / "m").exists()  # objects only: no files


async def test_a_broken_json_output_costs_the_dataset_not_the_finish(
    tmp_path: Path, store: SQLiteStore
) -> None:
    paths = paths_under(tmp_path)
    jobs = await dataset_manifest(tmp_path, store, DATASET)
    for job in jobs:
        write_json(paths.output, job)
    (paths.output / "m" / f"{jobs[1].output}.json").write_text("not json", "utf-8")
    with capture_logs() as events:
        await Finisher(store, lambda: paths).finish_all()
    (failed,) = [e for e in events if e["event"] == "manifest.dataset_failed"]
    assert failed["error"].endswith("1.json: not a JSON document")
    assert json.loads((paths.output / "m" / "report.json").read_text("utf-8"))["dataset"] is None
    assert not (paths.output / "m" / DATASET_FILE).exists()
    assert not [p for p in (paths.output / "m").iterdir() if p.name.endswith(".tmp")]


def test_a_name_used_again_exports_the_latest() -> None:
    def manifest(number: int, name: str) -> ManifestStatus:
        return ManifestStatus(number, name, f"/{number}.yaml", "finished", 1.0, 2.0, None)

    found = find_manifest([manifest(1, "day"), manifest(3, "day"), manifest(2, "night")], "day")
    assert found is not None
    assert found.id == 3
    assert find_manifest([manifest(1, "day")], "evening") is None


async def test_a_failed_export_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    target = tmp_path / "out" / "demo.jsonl"
    target.parent.mkdir()
    target.write_text("before\n", "utf-8")

    async def fail() -> None:
        async with export.atomic_file(target) as handle:
            handle.write(b"half a table")
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await fail()
    assert target.read_text("utf-8") == "before\n"
    assert [p.name for p in target.parent.iterdir()] == ["demo.jsonl"]  # no temporary left
    async with export.atomic_file(target) as handle:
        handle.write(b"after\n")
    assert target.read_text("utf-8") == "after\n"


def test_the_summary_says_what_was_left_out() -> None:
    done = export.Exported(jobs=3, rows=9, not_done=2, missing=1, first_missing="/r/m/a.json")
    assert summary("m", done, None) == (
        "m: 9 utterance(s) of 3 job(s) exported to standard output; 2 job(s) without a "
        "transcript (not done) left out; 1 done job(s) without a JSON output left out "
        "(the first: /r/m/a.json)"
    )
    assert summary("m", export.Exported(), Path("/x.csv")) == (
        "m: 0 utterance(s) of 0 job(s) exported to /x.csv"
    )
