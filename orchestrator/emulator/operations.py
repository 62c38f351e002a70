"""Operations: their records, the processing queue that finishes them, and expiry."""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from orchestrator.core import constants
from orchestrator.emulator.audio import AudioDecodeError, ProbedAudio, probe
from orchestrator.emulator.errors import status_body
from orchestrator.emulator.settings import EmulatorSettings
from orchestrator.emulator.storage import FetchError, ObjectFetcher, ObjectRef

_log = logging.getLogger(__name__)
CREATED_BY = "emulator-service-account"
_ID_ALPHABET = "abcdefghijklmnopqrstuv0123456789"
_OP_FAULTS = (
    (constants.GRPC_INTERNAL, "internal error while recognising the audio (emulated fault)"),
    (constants.GRPC_INVALID_ARGUMENT, "audio could not be processed (emulated fault)"),
)


def rfc3339(timestamp: float) -> str:
    """A Unix time as an RFC 3339 UTC timestamp, as the Operation's fields carry it."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_operation_id() -> str:
    """An id shaped like the service's (20 characters, starting with "e03")."""
    number = uuid.uuid4().int
    chars = []
    for _ in range(17):
        number, digit = divmod(number, len(_ID_ALPHABET))
        chars.append(_ID_ALPHABET[digit])
    return "e03" + "".join(chars)


@dataclass
class Operation:
    """One recognition operation and what the emulator counts about it."""

    id: str
    api: str
    model: str
    created_at: float
    modified_at: float
    done: bool = False
    started_at: float | None = None
    finished_at: float | None = None
    finished_monotonic: float | None = None
    response: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    expired: bool = False
    audio_seconds: float | None = None
    channels: int | None = None
    status_checks: int = 0
    checks_after_done: int = 0
    first_check_after_done: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The Operation as GET /operations/{id} returns it."""
        body: dict[str, Any] = {
            "done": self.done,
            "id": self.id,
            "createdAt": rfc3339(self.created_at),
            "createdBy": CREATED_BY,
            "modifiedAt": rfc3339(self.modified_at),
        }
        if self.error is not None:
            body["error"] = self.error
        elif self.response is not None:
            body["response"] = self.response
        return body

    def stats(self) -> dict[str, Any]:
        """The operation's counters for /_emulator/stats."""
        lag = None
        if self.first_check_after_done is not None and self.finished_at is not None:
            lag = self.first_check_after_done - self.finished_at
        return {
            "api": self.api,
            "model": self.model,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "outcome": "error" if self.error else ("response" if self.done else "running"),
            "error_code": self.error["code"] if self.error else None,
            "audio_seconds": self.audio_seconds,
            "channels": self.channels,
            "status_checks": self.status_checks,
            "checks_after_done": self.checks_after_done,
            "first_check_after_done": self.first_check_after_done,
            "lag_s": lag,
            "expired": self.expired,
        }


ResponseBuilder = Callable[[str, ProbedAudio], dict[str, Any]]


@dataclass(frozen=True)
class AudioJob:
    """What an operation has to do: fetch this object, decode it as declared, recognise it."""

    ref: ObjectRef
    encoding: str
    sample_rate: int
    channels: int
    deferred: bool
    build_response: ResponseBuilder


@dataclass
class OperationStore:
    """Every operation by id; a finished one becomes unreadable ``ttl_s`` after it finished."""

    ttl_s: float
    operations: dict[str, Operation] = field(default_factory=dict)

    def create(self, api: str, model: str) -> Operation:
        """A new running operation."""
        now = time.time()
        operation = Operation(
            id=new_operation_id(), api=api, model=model, created_at=now, modified_at=now
        )
        self.operations[operation.id] = operation
        return operation

    def get(self, operation_id: str) -> Operation | None:
        """The operation, or None when it never existed or has expired."""
        operation = self.operations.get(operation_id)
        if operation is None:
            return None
        finished = operation.finished_monotonic
        age = None if finished is None else time.monotonic() - finished
        if age is not None and age >= self.ttl_s and not operation.expired:
            # Drop the payload; the record stays for the counters.
            operation.expired = True
            operation.response = None
        return None if operation.expired else operation


class Processor:
    """Runs operations: fetch and decode the audio, then take a slot and 'recognise' it.

    Processing time = audio seconds x channels x 10/60 x seeded noise / speed, times
    ``deferred_factor`` for deferred models; at most ``max_concurrent`` run at once, the
    rest wait their turn.
    """

    def __init__(self, settings: EmulatorSettings, fetcher: ObjectFetcher) -> None:
        self._settings = settings
        self._fetcher = fetcher
        self._rng = random.Random(f"{settings.seed}:processing")
        self._slots = asyncio.Semaphore(settings.max_concurrent)
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, operation: Operation, job: AudioJob) -> None:
        """Process ``operation`` in the background."""
        task = asyncio.create_task(self._run(operation, job), name=f"emulator-op-{operation.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop every operation still running."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def processing_seconds(self, audio: ProbedAudio, deferred: bool) -> float:
        """How long recognising ``audio`` takes on the emulator's wall clock."""
        sigma = self._settings.processing_noise
        noise = math.exp(self._rng.gauss(0.0, sigma)) if sigma else 1.0
        seconds = audio.duration_s * audio.channels * constants.PROCESSING_S_PER_AUDIO_S * noise
        if deferred:
            seconds *= self._settings.deferred_factor
        return seconds / self._settings.speed

    async def _run(self, operation: Operation, job: AudioJob) -> None:
        try:
            fetched = await self._fetcher.fetch(job.ref)
            try:
                audio = probe(
                    fetched.file, fetched.size, job.encoding, job.sample_rate, job.channels
                )
            finally:
                fetched.close()
        except FetchError as exc:
            _finish(operation, error=status_body(exc.code, exc.message))
            return
        except AudioDecodeError as exc:
            _finish(operation, error=status_body(constants.GRPC_INVALID_ARGUMENT, str(exc)))
            return
        except Exception:
            # A bug here must not leave the operation running for ever.
            _log.exception("emulator: operation %s failed", operation.id)
            _finish(operation, error=status_body(constants.GRPC_INTERNAL, "internal error"))
            return
        operation.audio_seconds = audio.duration_s
        operation.channels = audio.channels
        async with self._slots:
            operation.started_at = time.time()
            await asyncio.sleep(self.processing_seconds(audio, job.deferred))
        if self._rng.random() < self._settings.op_error_rate:
            code, message = self._rng.choice(_OP_FAULTS)
            _finish(operation, error=status_body(code, message))
            return
        _finish(operation, response=job.build_response(fetched.sha256, audio))


def _finish(
    operation: Operation,
    *,
    response: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
) -> None:
    now = time.time()
    operation.response = response
    operation.error = error
    operation.done = True
    operation.finished_at = now
    operation.modified_at = now
    operation.finished_monotonic = time.monotonic()
