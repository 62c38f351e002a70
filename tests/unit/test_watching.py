"""What the watch shows, the pure part: what is left of a manifest, its throughput, its
ETA, and the plain line and the rich frame drawn from it."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from rich.console import Console

from orchestrator.commands.watching import Frame, Watch, frame_view, plain_line
from orchestrator.core.audio import AudioFacts
from orchestrator.core.finish_time import Quotas, Window, throughput, work_of
from orchestrator.core.jobs import Job, ManifestStatus, State
from orchestrator.core.parts import Part
from orchestrator.service.watching import progress_of, submissions_ahead
from orchestrator.speechkit import CATALOGUE
from tests.support.jobs import make_job

MONO_60 = AudioFacts("OGG_OPUS", 60.0, 1, 48000, 0, 1000, "ogg_opus")
STEREO_60 = AudioFacts("OGG_OPUS", 60.0, 2, 48000, 0, 1000, "ogg_opus")
RATIO = 0.1  # processing seconds per audio second


def at_ratio(_api: str, _model: str, audio_s: float) -> float:
    """The processing time of ``audio_s`` seconds at ``RATIO``, without overhead."""
    return RATIO * audio_s


def job(index: int, state: State, api: str = "v2", **fields: Any) -> Job:
    return make_job(index, state, api=api, manifest="calls", **{"audio": MONO_60, **fields})


def quotas(submit_left: float) -> Quotas:
    return Quotas(
        {
            "submit": Window(2, 60.0, submit_left),
            "status": Window(100, 60.0),
            "status_v3": Window(5, 1.25),
            "audio": Window(10000 * 3600, 86400),
            "asr_xml": Window(20, 1.25),
        }
    )


def test_what_is_left_counts_each_job_where_it_is() -> None:
    jobs = [
        job(1, State.QUEUED),
        job(2, State.UPLOADED, audio=STEREO_60),
        job(3, State.RUNNING, submitted_at=100.0),
        job(4, State.DONE),
        job(5, State.WAITING),  # follows another job: no submission of its own
        job(6, State.QUEUED, api="asr_xml"),
    ]
    work = work_of(jobs, at_ratio, now=103.0, apis=CATALOGUE, ahead=5)
    assert work.to_submit["v2"] == 2 + 5
    assert work.checking == {"v2": 1}
    assert work.longest_processing_s == 120 * RATIO  # stereo: both channels
    assert work.running_left_s == 100.0 + 60 * RATIO - 103.0
    assert work.billable_s == {"v2": 60 + 60}
    assert work.to_submit["asr_xml"] == 1


def test_what_is_left_counts_each_operations_overhead() -> None:
    # A service that spends 5 s per operation beside 0.1 s per audio second.
    jobs = [job(2, State.UPLOADED, audio=STEREO_60), job(3, State.RUNNING, submitted_at=100.0)]
    work = work_of(jobs, lambda _a, _m, audio_s: 5.0 + RATIO * audio_s, now=103.0, apis=CATALOGUE)
    assert work.longest_processing_s == 5.0 + 120 * RATIO
    assert work.running_left_s == 100.0 + 5.0 + 60 * RATIO - 103.0


def test_throughput_is_jobs_per_minute_over_the_recent_past() -> None:
    assert throughput([10.0, 20.0, 30.0, None], since=0.0, now=60.0) == 3.0
    assert throughput([10.0, 70.0], since=60.0, now=120.0) == 1.0
    assert throughput([1.0], since=0.0, now=5.0) is None  # too soon to say


def test_the_eta_waits_for_the_submission_quota() -> None:
    manifest = ManifestStatus(1, "calls", "/in", "active", 0.0, None, None, {"queued": 5})
    jobs = [job(i, State.QUEUED) for i in range(5)]
    now = 30.0
    with_room = progress_of(manifest, jobs, now, quotas=quotas(2), predict=at_ratio)
    # 5 submissions, 2 left now and 2 a minute: two more windows, then the processing.
    assert with_room.eta_s == 2 * 60.0 + 60 * RATIO
    spent = progress_of(manifest, jobs, now, quotas=quotas(0), predict=at_ratio)
    assert spent.eta_s == 3 * 60.0 + 60 * RATIO


def test_earlier_manifests_jobs_come_first() -> None:
    first = ManifestStatus(1, "a", "/in", "active", 0.0, None, None, {"queued": 3, "done": 1})
    second = ManifestStatus(2, "b", "/in", "active", 1.0, None, None, {"queued": 2})
    done = ManifestStatus(3, "c", "/in", "finished", 0.5, 2.0, None, {"done": 4})
    assert submissions_ahead(second, [first, second, done]) == 3
    assert submissions_ahead(first, [first, second, done]) == 0


def test_the_plain_line_and_the_frame() -> None:
    manifest = ManifestStatus(
        1, "calls", "/in", "active", 0.0, None, None, {"done": 3, "failed": 1, "running": 2}
    )
    jobs = [
        *(job(i, State.DONE, finished_at=float(i * 10)) for i in range(1, 4)),
        job(4, State.FAILED, finished_at=40.0, error="/audio/4.ogg: file not found"),
        job(5, State.RUNNING, submitted_at=50.0),
        job(6, State.RUNNING, submitted_at=50.0),
    ]
    progress = progress_of(manifest, jobs, 60.0, quotas=quotas(2), predict=at_ratio)
    assert plain_line(progress, 60.0) == (
        "calls: 4/6 ended (66%) | 2 running, 3 done, 1 failed | 4.0 jobs/min | "
        "elapsed 1m 00s | ETA 0s"
    )
    assert progress.failures == (("/audio/4.ogg", "/audio/4.ogg: file not found"),)
    console = Console(record=True, width=140, force_terminal=True)
    console.print(frame_view(Frame([progress]), 60.0, "watching"))
    shown = console.export_text()
    assert "calls" in shown
    assert "4/6" in shown
    assert "failed: 4.ogg: file not found" in shown

    finished = dataclasses.replace(progress, state="finished", finished_at=80.0)
    assert plain_line(finished, 500.0).endswith("| elapsed 1m 20s | finished")


def test_a_split_jobs_parts_are_its_work_left_not_jobs_of_the_manifest() -> None:
    manifest = ManifestStatus(1, "calls", "/in", "active", 0.0, None, None, {"split": 1})
    parts = [
        job(10 + i, State.QUEUED, parent_id=1, part=Part(i, 3, i * 60.0, i * 60.0 + 60))
        for i in range(3)
    ]
    cancelled = job(13, State.CANCELLED, finished_at=5.0, parent_id=1, error="cancelled")
    jobs = [job(1, State.SPLIT, finished_at=None), *parts, cancelled]
    progress = progress_of(manifest, jobs, 30.0, quotas=quotas(2), predict=at_ratio)
    # Three submissions, 2 left now and 2 a minute: one more window, then the processing.
    assert progress.eta_s == 60.0 + 60 * RATIO
    assert progress.failures == ()
    assert progress.total == 1


def test_off_a_terminal_the_store_is_read_every_second_and_lines_are_held() -> None:
    # The end is seen a second after it happens, not up to 10 s later; a log still gets a
    # manifest's changes at most every 10 s, and the line saying it ended at once.
    console = Console(record=True, width=200, force_terminal=False)
    assert Watch(console, "waiting").interval_s == 1.0
    assert Watch(Console(force_terminal=True), "waiting").interval_s == 1.0
    times = iter(float(t) for t in range(100, 200))
    watch = Watch(console, "waiting", interval_s=0.001, clock=lambda: next(times))
    manifest = ManifestStatus(1, "calls", "/in", "active", 0.0, None, None, {})
    frames = []
    for done in range(4):
        counts = {"done": done, "queued": 4 - done}
        frames.append(Frame([progress_of(dataclasses.replace(manifest, counts=counts), [], 100.0)]))
    final = dataclasses.replace(manifest, state="finished", finished_at=110.0, counts={"done": 4})
    frames.append(Frame([progress_of(final, [], 110.0)], done=True))
    looks = iter(frames)

    async def look(_now: float) -> Frame:
        return next(looks)

    asyncio.run(watch.run(look))
    lines = console.export_text().splitlines()
    assert [line.split(" ", 1)[1].split(" |")[0] for line in lines] == [
        "calls: 0/4 ended (0%)",
        "calls: 4/4 ended (100%)",
    ]
