"""The audio checks of ``validate``: each local job's file probed, and its facts checked
against the job's settings and API; every problem names the manifest, line and field."""

from __future__ import annotations

from pathlib import Path

from orchestrator.core.apis import audio_problems
from orchestrator.core.audio import AudioFacts
from orchestrator.core.errors import Problem
from orchestrator.intake.audio import AudioError, probe
from orchestrator.intake.jobspec import Manifest


def check_audio(manifest: Manifest) -> tuple[dict[str, AudioFacts], list[Problem]]:
    """Probe every local job's file; each problem names the manifest, the entry's line and why."""
    infos: dict[str, AudioFacts] = {}
    problems: list[Problem] = []
    for job in manifest.jobs:
        if job.is_s3:
            continue
        settings = job.settings
        try:
            infos[job.source] = facts = probe(
                Path(job.source),
                encoding=settings.encoding,
                sample_rate=settings.sample_rate,
                channels=settings.channels,
            )
            problems.extend(
                Problem(str(manifest.path), f"{job.source}: {message}", line=job.line, field=field)
                for field, message in audio_problems(settings, facts)
            )
        except AudioError as exc:
            problems.append(Problem(str(manifest.path), str(exc), line=job.line, field="audio"))
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            problems.append(
                Problem(str(manifest.path), f"{job.source}: {reason}", line=job.line, field="audio")
            )
        except Exception as exc:
            # A file the probe could not make sense of in a way nobody foresaw: reported
            # with the kind of error only (its message might quote the file's bytes).
            problems.append(
                Problem(
                    str(manifest.path),
                    f"{job.source}: the file could not be read as audio "
                    f"(internal error {type(exc).__name__})",
                    line=job.line,
                    field="audio",
                )
            )
    return infos, problems
