"""The audio checks of ``validate``: each local job's file probed, and its facts checked
against the job's settings and API; every problem names the manifest, line and field."""

from __future__ import annotations

from pathlib import Path

from orchestrator.core.apis import ApiCatalogue, audio_problems
from orchestrator.core.audio import AudioFacts
from orchestrator.core.errors import Problem
from orchestrator.core.output_options import names_problem
from orchestrator.intake.audio import AudioError, probe
from orchestrator.intake.jobspec import JobSpec


def check_job_audio(
    manifest: Path, job: JobSpec, apis: ApiCatalogue
) -> tuple[AudioFacts | None, list[Problem]]:
    """Probe one job's local file: its facts (None when it could not be read, or the
    audio is in object storage: never fetched) and the problems found, each naming the
    manifest, the entry's line and why."""
    if job.is_s3:
        return None, []
    settings = job.settings
    file = str(manifest)
    try:
        facts = probe(
            Path(job.source),
            encoding=settings.encoding,
            sample_rate=settings.sample_rate,
            channels=settings.channels,
        )
    except AudioError as exc:
        return None, [Problem(file, str(exc), line=job.line, field="audio")]
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return None, [Problem(file, f"{job.source}: {reason}", line=job.line, field="audio")]
    except Exception as exc:
        # A file the probe could not make sense of in a way nobody foresaw: reported
        # with the kind of error only (its message might quote the file's bytes).
        message = (
            f"{job.source}: the file could not be read as audio "
            f"(internal error {type(exc).__name__})"
        )
        return None, [Problem(file, message, line=job.line, field="audio")]
    found = audio_problems(settings, facts, apis)
    names = names_problem(job.options, facts.channels)
    if names is not None:
        found.append(("channel_names", names))
    problems = [
        Problem(file, f"{job.source}: {message}", line=job.line, field=field)
        for field, message in found
    ]
    return facts, problems
