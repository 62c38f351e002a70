"""The report written beside a manifest's results when all its jobs have ended."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from orchestrator.core.apis import ApiCatalogue
from orchestrator.core.billing import billable_seconds
from orchestrator.core.jobs import Job, ManifestStatus, State, failure_line
from orchestrator.core.output_options import TIMED_FORMATS


def _no_timings(job: Job, apis: ApiCatalogue) -> bool:
    """Whether the job went without subtitles it asked for (the default set asks for them;
    a job that chose ``[txt]`` lacks nothing)."""
    wanted = any(f in TIMED_FORMATS for f in job.output_options.formats)
    return job.state is State.DONE and wanted and not apis[job.settings.api].timings


def _billable(jobs: Iterable[Job], apis: ApiCatalogue, *, paid: bool) -> float:
    """The billable seconds of the jobs recognised (each part of a split job is billed as
    a recognition of its own): those that submitted their audio (``paid``), or those that
    took another job's recognition or a cached result, which cost nothing."""
    # SpeechKit's billing unit is asynchronous recognition's; the legacy API is not billed so.
    return sum(
        billable_seconds(job.audio.duration_s, job.audio.channels)
        for job in jobs
        if job.audio
        and job.state is State.DONE
        and job.audio.duration_s > 0
        and apis[job.settings.api].asynchronous
        and (job.submissions > 0) is paid
    )


def _billing(jobs: Sequence[Job], parts: Sequence[Job], apis: ApiCatalogue) -> dict[str, float]:
    """The billable units paid and those saved by reusing a recognition, and in hours."""
    # A split job is billed for its parts, not as a whole.
    split = {part.parent_id for part in parts}
    billed = [*(job for job in jobs if job.id not in split), *parts]
    billable = _billable(billed, apis, paid=True)
    saved = _billable(billed, apis, paid=False)
    return {
        "billable_units": round(billable, 3),
        "billable_hours": round(billable / 3600.0, 6),
        "saved_units": round(saved, 3),
        "saved_hours": round(saved / 3600.0, 6),
    }


def build_report(
    manifest: ManifestStatus,
    jobs: Sequence[Job],
    now: float,
    apis: ApiCatalogue,
    parts: Sequence[Job] = (),
) -> dict[str, Any]:
    """Counts, every failure with its reason, the jobs done with a note (nothing
    recognised), those without subtitles (an API without timings), audio hours and
    billable units, and how many parts the jobs that were split had (pure)."""
    counts = Counter(job.state.value for job in jobs)
    audio_s = sum(job.audio.duration_s * job.audio.channels for job in jobs if job.audio)
    parts_of = Counter(part.parent_id for part in parts)
    failures = [
        {"job_id": job.id, "source": job.source, "output": job.output, "reason": job.error}
        for job in jobs
        if job.state in (State.FAILED, State.CANCELLED)
    ]
    return {
        "manifest": manifest.name,
        "manifest_id": manifest.id,
        "started_at": manifest.created_at,
        "finished_at": now,
        "elapsed_s": round(now - manifest.created_at, 3),
        "jobs": len(jobs),
        "counts": dict(sorted(counts.items())),
        "audio_hours": round(audio_s / 3600.0, 6),
        **_billing(jobs, parts, apis),
        "submissions": sum(job.submissions for job in (*jobs, *parts)),
        "status_checks": sum(job.polls for job in (*jobs, *parts)),
        "parts": len(parts),
        "jobs_split": len(parts_of),
        "failures": failures,
        "notes": [
            {"job_id": job.id, "source": job.source, "output": job.output, "note": job.note}
            for job in jobs
            if job.state is State.DONE and job.note
        ],
        # An API without timings (asr_xml) gives nothing to time subtitles by.
        "without_subtitles": [
            {"job_id": job.id, "source": job.source, "output": job.output, "api": job.settings.api}
            for job in jobs
            if _no_timings(job, apis)
        ],
        "results": [
            {
                "source": job.source,
                "output": job.output,
                "operation_id": job.operation_id,
                "api": job.settings.api,
                **({"parts": parts_of[job.id]} if job.id in parts_of else {}),
            }
            for job in jobs
            if job.state is State.DONE
        ],
    }


def render_report_json(report: dict[str, Any]) -> str:
    """The report as indented JSON."""
    return json.dumps(report, ensure_ascii=False, indent=2) + "\n"


def _saved(report: dict[str, Any]) -> str:
    """What reusing recognitions saved, when it saved anything (a report written before
    this was counted has no ``saved_units``)."""
    saved = report.get("saved_units") or 0
    if not saved:
        return ""
    return f"; saved {saved:.0f} ({report['saved_hours']:.4f} h) by reusing recognitions"


def render_report_text(report: dict[str, Any]) -> str:
    """The report for a person to read."""
    counts = ", ".join(f"{n} {state}" for state, n in report["counts"].items())
    lines = [
        f"manifest {report['manifest']}: {report['jobs']} jobs ({counts})",
        f"audio: {report['audio_hours']:.4f} h (all channels); billable units: "
        f"{report['billable_units']:.0f} ({report['billable_hours']:.4f} h)" + _saved(report),
        f"requests: {report['submissions']} submissions, {report['status_checks']} status checks",
        f"elapsed: {report['elapsed_s']:.1f} s",
    ]
    if report.get("parts"):
        lines.insert(
            3, f"split: {report['jobs_split']} jobs, recognised in {report['parts']} parts"
        )
    if report["failures"]:
        lines.append("failures:")
        lines.extend(f"  {failure_line(f['source'], f['reason'])}" for f in report["failures"])
    if report["notes"]:
        lines.append("done, with a note:")
        lines.extend(f"  {n['source']}: {n['note']}" for n in report["notes"])
    if report["without_subtitles"]:
        apis = ", ".join(sorted({j["api"] for j in report["without_subtitles"]}))
        lines.append(f"json and txt only (srt/vtt are not available: api {apis} gives no timings):")
        lines.extend(f"  {j['source']}" for j in report["without_subtitles"])
    return "\n".join(lines) + "\n"
