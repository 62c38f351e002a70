"""The one client interface for every recognition API (v2 now; v3 and asr_xml later)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol, runtime_checkable

from orchestrator.core.constants import DEFAULT_LANGUAGE, DEFAULT_MODEL
from orchestrator.core.transcript import Transcript

from .errors import SpeechKitError, operation_error


@dataclass(frozen=True)
class SubmitRequest:
    """What to recognise and how: plain values, whatever API carries them."""

    audio_uri: str
    encoding: str  # "OGG_OPUS" | "MP3" | "LINEAR16_PCM"
    sample_rate: int | None = None  # needed for LINEAR16_PCM
    channels: int = 1
    language: str = DEFAULT_LANGUAGE
    model: str = DEFAULT_MODEL
    profanity_filter: bool = False
    literature_text: bool = False
    raw_results: bool = False


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

    @property
    def failed(self) -> bool:
        """True when the operation finished with an error."""
        return self.done and self.error is not None

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

    def failure(self) -> SpeechKitError | None:
        """The operation's error as a PERMANENT SpeechKitError, or None if it did not fail."""
        if self.error is None:
            return None
        return operation_error(self.error.code, self.error.message, request_id=self.request_id)


@runtime_checkable
class RecognitionClient(Protocol):
    """Submit, poll and fetch for one recognition API; every failure is a SpeechKitError."""

    api: str

    async def submit(self, request: SubmitRequest) -> str:
        """Start recognition; return the operation id."""
        ...

    async def get_operation(self, operation_id: str) -> OperationStatus:
        """Ask once whether the operation is done (one status check of the quota)."""
        ...

    async def fetch_result(
        self, operation_id: str, status: OperationStatus | None = None
    ) -> Transcript:
        """The transcript of a finished operation (raises its error if it failed)."""
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
