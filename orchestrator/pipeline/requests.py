"""What to ask the service for a job (pure): the recognition request and the object's link."""

from __future__ import annotations

from orchestrator.core.jobs import Job
from orchestrator.core.refs import ObjectRef, is_object_uri
from orchestrator.speechkit.base import SubmitRequest


def object_ref(job: Job, bucket: str) -> ObjectRef:
    """The object holding the job's audio: its own ``s3://`` source, or the one uploaded
    to ``bucket``."""
    key = job.object_key or ""
    if is_object_uri(key):
        return ObjectRef.parse(key)
    return ObjectRef(bucket, key)


def submit_request(job: Job, audio_uri: str) -> SubmitRequest:
    """The recognition request for a probed (or declared) job."""
    facts = job.audio
    if facts is None:
        raise ValueError(f"job {job.id} has no audio facts to submit")
    settings = job.settings
    lpcm = facts.encoding == "LINEAR16_PCM"
    return SubmitRequest(
        audio_uri=audio_uri,
        encoding=facts.encoding,
        sample_rate=(facts.sample_rate or settings.sample_rate) if lpcm else None,
        channels=facts.channels if lpcm else 1,
        language=settings.language,
        model=settings.model,
        profanity_filter=settings.profanity_filter,
        literature_text=settings.literature_text,
        raw_results=settings.raw_results,
    )
