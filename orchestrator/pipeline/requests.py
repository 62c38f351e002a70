"""What to ask the service for a job: the recognition request and the object's link."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from orchestrator.core.audio import object_suffix
from orchestrator.core.jobs import Job
from orchestrator.core.refs import ObjectRef, is_object_uri
from orchestrator.intake.audio import read_range
from orchestrator.speechkit.base import LocalAudio, SubmitRequest


def object_ref(job: Job, bucket: str) -> ObjectRef:
    """The object holding the job's audio: its own ``s3://`` source, or the one uploaded
    to ``bucket``."""
    key = job.object_key or ""
    if is_object_uri(key):
        return ObjectRef.parse(key)
    return ObjectRef(bucket, key)


def converted_file(conversions_dir: Path, content_hash: str, encoding: str) -> Path:
    """Where the conversion of a file is kept until it is sent: named by its content
    hash, so every job of that audio (and a restart) finds the same file."""
    return conversions_dir / f"{content_hash}{object_suffix(encoding)}"


def local_audio(job: Job, conversions_dir: Path | None = None) -> LocalAudio:
    """The job's local file (its conversion, when converted), to be read in chunks by a
    client that sends the bytes."""
    facts = job.audio
    if facts is None or not job.is_local:
        raise ValueError(f"job {job.id} has no probed local file to send")
    path = Path(job.source)
    container = facts.container
    if facts.converted:
        if conversions_dir is None:
            raise ValueError(f"job {job.id} is sent converted: name the conversions directory")
        path = converted_file(conversions_dir, job.content_hash or "", facts.encoding)
        container = "ogg_opus" if facts.encoding == "OGG_OPUS" else "wav"
    return LocalAudio(
        container=container,
        size_bytes=facts.size_bytes,
        data_offset=facts.data_offset,
        data_length=facts.data_length,
        # The one reader of audio bytes, as for uploads: chunk by chunk, never whole.
        read=partial(read_range, path),
    )


def submit_request(
    job: Job, audio_uri: str | None, local: LocalAudio | None = None
) -> SubmitRequest:
    """The recognition request for a probed (or declared) job: by the object's link, or
    with the file itself (``local``)."""
    facts = job.audio
    if facts is None:
        raise ValueError(f"job {job.id} has no audio facts to submit")
    settings = job.settings
    lpcm = facts.encoding == "LINEAR16_PCM"
    return SubmitRequest(
        audio_uri=audio_uri,
        encoding=facts.encoding,
        sample_rate=(facts.sample_rate or settings.sample_rate) if lpcm else None,
        channels=facts.channels,
        language=settings.language,
        model=settings.model,
        profanity_filter=settings.profanity_filter,
        literature_text=settings.literature_text,
        raw_results=settings.raw_results,
        speaker_labeling=settings.speaker_labeling,
        text_normalization=settings.text_normalization,
        local=local,
    )
