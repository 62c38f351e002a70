"""The processing queue: fetch the audio, decode it as declared, take a slot, 'recognise' it.

Processing time = (overhead + audio seconds x channels x 10/60) x seeded log-normal noise /
speed, times ``deferred_factor`` for deferred models; at most ``max_concurrent``
recognitions run at once (asynchronous operations and synchronous asr_xml requests alike),
the rest wait their turn.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchestrator.core import constants
from orchestrator.emulator.audio import AudioDecodeError, ProbedAudio, probe
from orchestrator.emulator.errors import status_body
from orchestrator.emulator.operations import Operation
from orchestrator.emulator.settings import EmulatorSettings
from orchestrator.emulator.storage import FetchedObject, FetchError, ObjectFetcher, ObjectRef

_log = logging.getLogger(__name__)
# The message of each injected operation failure, by gRPC code.
_FAULT_MESSAGES = {
    constants.GRPC_INVALID_ARGUMENT: "audio could not be processed (emulated fault)",
    constants.GRPC_DEADLINE_EXCEEDED: "recognition took too long (emulated fault)",
    constants.GRPC_PERMISSION_DENIED: "no access to the audio object (emulated fault)",
    constants.GRPC_INTERNAL: "internal error while recognising the audio (emulated fault)",
    constants.GRPC_UNAVAILABLE: "the recogniser is unavailable (emulated fault)",
}


@dataclass(frozen=True)
class Recognition:
    """What a finished operation carries: a v2 ``response``, or v3 ``results`` lines."""

    response: dict[str, Any] | None = None
    results: list[dict[str, Any]] | None = None


Recogniser = Callable[[str, ProbedAudio], Recognition]


@dataclass(frozen=True)
class AudioJob:
    """What an operation has to do: read this audio, decode it as declared, recognise it.

    ``source`` is an Object Storage object, or the bytes sent inline (API v3 ``content``).
    ``encoding`` is one of ``audio.probe``'s: LINEAR16_PCM, WAV, OGG_OPUS, MP3.
    """

    source: ObjectRef | bytes
    encoding: str
    sample_rate: int
    channels: int
    deferred: bool
    recognise: Recogniser


def inline_object(content: bytes) -> FetchedObject:
    """Inline audio as if it had been fetched."""
    return FetchedObject(
        file=io.BytesIO(content), size=len(content), sha256=hashlib.sha256(content).hexdigest()
    )


class Processor:
    """Runs operations in the background and times synchronous recognitions."""

    def __init__(
        self,
        settings: EmulatorSettings,
        fetcher: ObjectFetcher,
        count_audio: Callable[[float, int], None] | None = None,
    ) -> None:
        self._settings = settings
        self._fetcher = fetcher
        self._count_audio = count_audio
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
        # A fixed part per operation (service seconds) before the part that grows with the
        # audio; the noise spreads both, as a busy service delays the whole operation.
        audio_part = audio.duration_s * audio.channels * constants.PROCESSING_S_PER_AUDIO_S
        seconds = (self._settings.processing_overhead_s + audio_part) * noise
        if deferred:
            seconds *= self._settings.deferred_factor
        return seconds / self._settings.speed

    async def occupy(self, seconds: float) -> float:
        """Hold one processing slot for ``seconds``; the time the slot was taken."""
        async with self._slots:
            started = time.time()
            await asyncio.sleep(max(0.0, seconds))
        return started

    def draw_failure(self) -> bool:
        """Whether the next recognition fails (``op_error_rate``)."""
        return self._rng.random() < self._settings.op_error_rate

    async def _read(self, job: AudioJob) -> FetchedObject:
        if isinstance(job.source, bytes):
            return inline_object(job.source)
        return await self._fetcher.fetch(job.source)

    async def _run(self, operation: Operation, job: AudioJob) -> None:
        try:
            fetched = await self._read(job)
            try:
                audio = probe(
                    fetched.file, fetched.size, job.encoding, job.sample_rate, job.channels
                )
            finally:
                fetched.close()
        except FetchError as exc:
            operation.finish(error=status_body(exc.code, exc.message))
            return
        except AudioDecodeError as exc:
            operation.finish(error=status_body(constants.GRPC_INVALID_ARGUMENT, str(exc)))
            return
        except Exception:
            # A bug here must not leave the operation running for ever.
            _log.exception("emulator: operation %s failed", operation.id)
            operation.finish(error=status_body(constants.GRPC_INTERNAL, "internal error"))
            return
        operation.audio_seconds = audio.duration_s
        operation.channels = audio.channels
        operation.silent = audio.silent
        if self._count_audio is not None:
            self._count_audio(audio.duration_s, audio.channels)
        operation.started_at = await self.occupy(self.processing_seconds(audio, job.deferred))
        if self.draw_failure():
            code = self._rng.choice(self._settings.op_error_codes)
            undone = self._rng.random() < self._settings.op_error_undone_rate
            operation.finish(error=status_body(code, _FAULT_MESSAGES[code]), undone=undone)
            return
        try:
            result = job.recognise(fetched.sha256, audio)
        except Exception:
            _log.exception("emulator: recognising operation %s failed", operation.id)
            operation.finish(error=status_body(constants.GRPC_INTERNAL, "internal error"))
            return
        operation.finish(response=result.response, results=result.results)
