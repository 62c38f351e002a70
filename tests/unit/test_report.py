"""A manifest's report: failures, jobs done with a note, jobs without subtitles."""

from __future__ import annotations

from typing import Any

from orchestrator.core.audio import AudioFacts
from orchestrator.core.jobs import Job, ManifestStatus, State
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
