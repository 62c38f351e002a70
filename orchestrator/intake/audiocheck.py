"""The audio checks of ``validate``: each local job's file probed, what will be done to it
decided (sent as it is, converted, split), and the result checked against the job's
settings and API; every problem names the manifest, line and field."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from orchestrator.core.apis import ApiCatalogue, audio_problems
from orchestrator.core.errors import Problem
from orchestrator.core.output_options import names_problem
from orchestrator.intake.audio import AudioError, identify
from orchestrator.intake.jobspec import JobSpec
from orchestrator.intake.preparation import Native, Preparation, decide, needs_media, part_limit
from orchestrator.media.errors import MediaError


def prepare_file(
    path: Path, job: JobSpec, apis: ApiCatalogue, max_part_s: float | None = None
) -> Preparation:
    """What will be done to a local file, probed in this process (FFmpeg only when the
    native probe cannot take it). Raises AudioError or MediaError with the reason."""
    settings = job.settings
    native: Native
    try:
        native = identify(
            path,
            encoding=settings.encoding,
            sample_rate=settings.sample_rate,
            channels=settings.channels,
        )
    except AudioError as exc:
        native = exc
    spec = apis[settings.api]
    limit = part_limit(spec, max_part_s)
    if not needs_media(native, settings, spec, limit):
        return decide(path, settings, spec, limit, native)
    # FFmpeg is loaded only for a file that needs it: the daemon reads its manifests with
    # these checks, and its audio may all go as it is (``media.calls``).
    from orchestrator.media.probe import media_info

    info = media_info(path)
    return decide(path, settings, spec, limit, native, info, path.stat().st_size)


def check_job_audio(
    manifest: Path, job: JobSpec, apis: ApiCatalogue, max_part_s: float | None = None
) -> tuple[Preparation | None, list[Problem]]:
    """Probe one job's local file: what will be done to it (None when it could not be
    read, or the audio is in object storage: never fetched) and the problems found, each
    naming the manifest, the entry's line and why."""
    if job.is_s3:
        return None, []
    file = str(manifest)
    try:
        prepared = prepare_file(Path(job.source), job, apis, max_part_s)
    except (AudioError, MediaError) as exc:
        return None, [Problem(file, str(exc), line=job.line, field=job.audio_field)]
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return None, [
            Problem(file, f"{job.source}: {reason}", line=job.line, field=job.audio_field)
        ]
    except Exception as exc:
        # A file the probe could not make sense of in a way nobody foresaw: reported
        # with the kind of error only (its message might quote the file's bytes).
        message = (
            f"{job.source}: the file could not be read as audio "
            f"(internal error {type(exc).__name__})"
        )
        return None, [Problem(file, message, line=job.line, field=job.audio_field)]
    facts = prepared.facts
    # A split recording is sent in parts no longer than the limit: a part is what the
    # API must take.
    sent = replace(facts, duration_s=min(facts.duration_s, prepared.limit_s))
    found = audio_problems(job.settings, sent, apis)
    names = names_problem(job.options, facts.channels)
    if names is not None:
        found.append(("channel_names", names))
    problems = [
        Problem(file, f"{job.source}: {message}", line=job.line, field=field)
        for field, message in found
    ]
    return prepared, problems
