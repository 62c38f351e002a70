"""The one client interface for every recognition API. Each client carries its API's spec
(``core.apis.ApiSpec``) as its ``profile``: which quota each call spends, its metric labels,
what a 404 means at each step, whether fetching the result is a request of its own. The
pipeline knows no API but these."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol, runtime_checkable

from orchestrator.core.apis import ApiSpec
from orchestrator.core.constants import DEFAULT_LANGUAGE, DEFAULT_MODEL
from orchestrator.core.settings import Language
from orchestrator.core.transcript import Transcript

from .errors import RecognitionFailed, operation_error


@dataclass(frozen=True)
class Submitted:
    """A submission's answer: the operation to check on, or, from a synchronous API, the
    transcript itself (``operation_id`` then names the recognition for support)."""

    operation_id: str
    request_id: str | None = None
    transcript: Transcript | None = None


@dataclass(frozen=True)
class LocalAudio:
    """A local file sent in the request itself (no object storage): what it is and a way
    to read a byte range of it in chunks, never whole."""

    container: str  # "ogg_opus" | "mp3" | "wav" | "raw": the file's real format
    size_bytes: int
    data_offset: int  # the audio samples (a WAV file's data chunk)
    data_length: int
    read: Callable[[int, int], Iterator[bytes]]  # (offset, length) -> chunks


@dataclass(frozen=True)
class SubmitRequest:
    """What to recognise and how: plain values, whatever API carries them."""

    audio_uri: str | None  # the object's link; None when the audio goes in the request
    encoding: str  # "OGG_OPUS" | "MP3" | "LINEAR16_PCM"
    sample_rate: int | None = None  # needed for LINEAR16_PCM
    channels: int = 1  # the audio's channel count
    language: Language = DEFAULT_LANGUAGE
    model: str = DEFAULT_MODEL
    profanity_filter: bool = False
    literature_text: bool = False
    raw_results: bool = False
    speaker_labeling: bool = False
    text_normalization: bool | None = None  # None: as literature_text
    local: LocalAudio | None = None  # the file itself, for an API that takes the bytes


class OperationFailure(NamedTuple):
    """The ``error`` of a finished operation (a google.rpc.Status)."""

    code: int | None
    message: str


@dataclass(frozen=True)
class OperationStatus:
    """One answer to "is operation X done?"."""

    id: str
    done: bool
    error: OperationFailure | None = None
    response: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)
    request_id: str | None = None
    # Ours, different for every request: not part of what the status says.
    client_request_id: str | None = field(default=None, compare=False)

    def processing_s(self) -> float | None:
        """Seconds from ``createdAt`` to ``modifiedAt`` of a finished operation (both on the
        service's clock), or None when either is missing or unreadable."""
        if not self.done:
            return None
        created = _timestamp(self.raw.get("createdAt"))
        modified = _timestamp(self.raw.get("modifiedAt"))
        if created is None or modified is None or modified < created:
            return None
        return modified - created

    def failure(self) -> RecognitionFailed | None:
        """The operation's error (its code and message), or None if it did not fail."""
        if self.error is None:
            return None
        return operation_error(
            self.error.code,
            self.error.message,
            request_id=self.request_id,
            client_request_id=self.client_request_id,
        )


@runtime_checkable
class RecognitionClient(Protocol):
    """Submit, check and fetch for one recognition API; every failure is a SpeechKitError."""

    profile: ApiSpec

    async def submit(self, request: SubmitRequest) -> Submitted:
        """Start recognition (one request of ``profile.submit_quota``)."""
        ...

    async def get_operation(self, operation_id: str) -> OperationStatus:
        """Ask once whether the operation is done (one request of ``profile.status_quota``)."""
        ...

    def result_of(self, status: OperationStatus) -> Transcript | None:
        """The transcript a finished status carries, or None when it carries none (the
        result is then fetched with ``fetch_result``)."""
        ...

    async def fetch_result(
        self, operation_id: str, *, speaker_labeling: bool = False
    ) -> Transcript:
        """The transcript of a finished operation (one request of ``profile.result_quota``);
        ``speaker_labeling`` says the job asked for speaker labels."""
        ...

    async def delete_result(self, operation_id: str) -> None:
        """Delete the results the service keeps (``profile.delete_endpoint``; a no-op for an
        API that keeps none)."""
        ...

    def from_cache(self, payload: Any) -> Transcript | None:
        """A transcript cached by an older version in this API's own shape, if it is one."""
        ...


def _timestamp(value: Any) -> float | None:
    """An RFC 3339 timestamp ("2024-05-01T10:00:00.123456Z") as seconds since the epoch."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    # Python before 3.11 could not read more than 6 digits of fraction; the service may send 9.
    match = re.fullmatch(r"(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)", text)
    if match is None:
        return None
    head, fraction, zone = match.groups()
    fraction = (fraction or "")[:7]
    try:
        moment = datetime.fromisoformat(f"{head}{fraction}{zone or '+00:00'}")
    except ValueError:
        return None
    return moment.timestamp()
