"""A manifest's report: failures, jobs done with a note, jobs without subtitles."""

from __future__ import annotations

from typing import Any

from orchestrator.commands.status import render
from orchestrator.core.audio import AudioFacts
from orchestrator.core.jobs import Job, ManifestStatus, State
from orchestrator.core.output_options import OutputOptions
from orchestrator.core.parts import Part
from orchestrator.outputs.report import build_report, render_report_text
from orchestrator.speechkit import CATALOGUE
from tests.support.jobs import make_job

AUDIO = AudioFacts("OGG_OPUS", 30.0, 1, 48000, 0, 1000, "ogg_opus")
MANIFEST = ManifestStatus(1, "m", "/in/m.yaml", "active", 100.0, None, None)


def job(index: int, state: State, api: str = "v2", **fields: Any) -> Job:
    extra = {"audio": AUDIO, "operation_id": f"op{index}", "submissions": 1, **fields}
    return make_job(index, state, api=api, folder="/a", **extra)


def test_notes_and_jobs_without_subtitles() -> None:
    jobs = [
        job(1, State.DONE),
        job(2, State.DONE, note="no speech recognised"),
        job(3, State.DONE, api="asr_xml"),
        job(4, State.FAILED, api="asr_xml", error="recognition failed: nothing"),
    ]
    report = build_report(MANIFEST, jobs, 160.0, CATALOGUE)
    assert report["counts"] == {"done": 3, "failed": 1}
    # Billable units are asynchronous recognition's: the asr_xml job is not among them.
    assert report["billable_units"] == 60.0
    assert report["notes"] == [
        {"job_id": 2, "source": "/a/2.ogg", "output": "2", "note": "no speech recognised"}
    ]
    # Only done jobs lack subtitles; a failed one has no outputs at all.
    assert report["without_subtitles"] == [
        {"job_id": 3, "source": "/a/3.ogg", "output": "3", "api": "asr_xml"}
    ]
    assert [r["api"] for r in report["results"]] == ["v2", "v2", "asr_xml"]
    text = render_report_text(report)
    assert "done, with a note:\n  /a/2.ogg: no speech recognised\n" in text
    assert (
        "json and txt only (srt/vtt are not available: api asr_xml gives no timings):\n"
        "  /a/3.ogg\n" in text
    )
    assert "failures:\n  /a/4.ogg: recognition failed: nothing\n" in text


def test_a_plain_report_says_nothing_of_notes() -> None:
    text = render_report_text(build_report(MANIFEST, [job(1, State.DONE)], 160.0, CATALOGUE))
    assert "note" not in text
    assert "srt/vtt" not in text


def test_a_split_job_is_counted_once_and_billed_for_its_parts() -> None:
    whole = AudioFacts("LINEAR16_PCM", 20.0, 1, 8000, 44, 320_000, "wav")
    part = AudioFacts("LINEAR16_PCM", 10.0, 1, 8000, 44, 160_000, "wav")
    split = job(1, State.DONE, audio=whole, operation_id=None, submissions=0)
    parts = [
        job(10 + i, State.DONE, audio=part, parent_id=1, part=Part(i, 2, i * 10.0, i * 10.0 + 10))
        for i in range(2)
    ]
    report = build_report(MANIFEST, [split, job(2, State.DONE)], 160.0, CATALOGUE, parts)
    assert report["jobs"] == 2
    assert report["counts"] == {"done": 2}
    assert report["parts"] == 2
    assert report["jobs_split"] == 1
    # Each part is a recognition billed on its own (15 s at least): 15 + 15 + 30.
    assert report["billable_units"] == 60.0
    assert report["submissions"] == 3
    assert [r.get("parts") for r in report["results"]] == [2, None]
    assert "split: 1 jobs, recognised in 2 parts\n" in render_report_text(report)
    plain = build_report(MANIFEST, [job(2, State.DONE)], 160.0, CATALOGUE)
    assert (plain["parts"], plain["jobs_split"]) == (0, 0)
    assert "split" not in render_report_text(plain)


def test_jobs_that_reused_a_recognition_are_billed_nothing_and_count_as_saved() -> None:
    leader = job(1, State.DONE)
    # A follower of job 1's recognition and a job that took a cached result submit nothing.
    follower = job(2, State.DONE, leader_id=1, submissions=0)
    cached = job(3, State.DONE, submissions=0)
    report = build_report(MANIFEST, [leader, follower, cached], 160.0, CATALOGUE)
    assert report["billable_units"] == 30.0
    assert report["saved_units"] == 60.0
    assert report["saved_hours"] == round(60.0 / 3600, 6)
    text = render_report_text(report)
    assert "billable units: 30 (0.0083 h); saved 60 (0.0167 h) by reusing recognitions\n" in text
    plain = build_report(MANIFEST, [leader], 160.0, CATALOGUE)
    assert plain["saved_units"] == 0.0
    assert "saved" not in render_report_text(plain)


def test_a_job_that_chose_no_subtitles_is_not_said_to_lack_them() -> None:
    txt_only = job(1, State.DONE, api="asr_xml", output_options=OutputOptions(("txt",)))
    report = build_report(MANIFEST, [txt_only], 160.0, CATALOGUE)
    assert report["without_subtitles"] == []
    assert "srt" not in render_report_text(report)


def test_a_failure_reason_that_starts_with_its_path_does_not_say_it_twice() -> None:
    failed = job(1, State.FAILED, error="/a/1.ogg: cannot read: Permission denied")
    text = render_report_text(build_report(MANIFEST, [failed], 160.0, CATALOGUE))
    assert "failures:\n  /a/1.ogg: cannot read: Permission denied\n" in text


def test_status_says_a_failures_path_once() -> None:
    manifest = {
        "id": 1,
        "name": "m",
        "state": "active",
        "jobs": 1,
        "counts": {"failed": 1},
        "progress": 1.0,
        "eta_s": None,
        "failures": [{"source": "/a/1.ogg", "reason": "/a/1.ogg: file not found"}],
    }
    assert "    failed: /a/1.ogg: file not found\n" in render({"manifests": [manifest]}, 0.0)
