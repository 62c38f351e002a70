"""What to ask the service for a job (pure): the request, the object's name and link."""

from __future__ import annotations

from pathlib import PurePosixPath

from orchestrator.core.jobs import Job
from orchestrator.speechkit.base import SubmitRequest

_EXTENSION_ENCODING = {
    ".ogg": "OGG_OPUS",
    ".opus": "OGG_OPUS",
    ".oga": "OGG_OPUS",
    ".mp3": "MP3",
    ".raw": "LINEAR16_PCM",
    ".pcm": "LINEAR16_PCM",
    ".lpcm": "LINEAR16_PCM",
}
_SUFFIX = {"OGG_OPUS": ".ogg", "MP3": ".mp3", "LINEAR16_PCM": ".pcm"}


def object_suffix(encoding: str) -> str:
    """The extension of an uploaded object: what it holds, for people browsing the bucket."""
    return _SUFFIX.get(encoding, "")


def remote_encoding(key: str, declared: str | None) -> str | None:
    """The encoding of an object already in storage: declared, or told by its extension
    (a WAV object cannot be sent as is: its header is not raw LPCM)."""
    return declared or _EXTENSION_ENCODING.get(PurePosixPath(key).suffix.lower())


def object_uri(job: Job, public_url_base: str, bucket: str) -> str:
    """The link SpeechKit fetches the job's audio from (path style)."""
    key = job.object_key or ""
    if key.startswith("s3://"):
        return f"{public_url_base}/{key.removeprefix('s3://')}"
    return f"{public_url_base}/{bucket}/{key}"


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
        sample_rate=(facts.sample_rate or settings.get("sample_rate")) if lpcm else None,
        channels=facts.channels if lpcm else 1,
        language=settings.get("language", "ru-RU"),
        model=settings.get("model", "general"),
        profanity_filter=bool(settings.get("profanity_filter", False)),
        literature_text=bool(settings.get("literature_text", False)),
        raw_results=bool(settings.get("raw_results", False)),
    )
