"""What the asynchronous APIs' submissions share: the checks before the operation exists,
and the hand-over of its audio to the processor."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, Protocol, TypeVar

from aiohttp import web

from orchestrator.emulator.core import Emulator, emulator_of, read_json
from orchestrator.emulator.operations import Operation
from orchestrator.emulator.processor import AudioJob, Recogniser
from orchestrator.emulator.storage import ObjectRef


class ParsedAudio(Protocol):
    """A valid submission's audio and model, whatever API sent it."""

    @property
    def model(self) -> str:
        """The recognition model asked for."""
        ...

    @property
    def encoding(self) -> str:
        """The audio's declared encoding."""
        ...

    @property
    def sample_rate(self) -> int:
        """The declared sample rate (raw LPCM)."""
        ...

    @property
    def channels(self) -> int:
        """The declared channel count."""
        ...


Parsed = TypeVar("Parsed", bound=ParsedAudio)


async def open_operation(
    request: web.Request, api: str, parse: Callable[[Any], Parsed]
) -> tuple[Emulator, Operation, Parsed]:
    """Authenticate, spend a submission, check the body with ``parse`` and create the
    operation; raises the ApiError of the first check that fails."""
    emulator = emulator_of(request)
    account = emulator.authenticate(request)
    # Every authenticated request spends quota, valid or not, as the client cannot tell;
    # v2 and v3 submissions share the 500-per-hour recognition-request quota.
    emulator.spend("submit")
    parsed = parse(await read_json(request))
    operation = emulator.operations.create(api=api, model=parsed.model, created_by=account)
    return emulator, operation, parsed


def start_recognition(
    emulator: Emulator,
    operation: Operation,
    parsed: ParsedAudio,
    source: ObjectRef | bytes,
    *,
    deferred_models: Collection[str],
    recognise: Recogniser,
) -> web.Response:
    """Hand the operation's audio to the processor; the answer to the submission (the
    operation, not done yet)."""
    job = AudioJob(
        source=source,
        encoding=parsed.encoding,
        sample_rate=parsed.sample_rate,
        channels=parsed.channels,
        deferred=parsed.model in deferred_models,
        recognise=recognise,
    )
    emulator.processor.start(operation, job)
    return web.json_response(operation.submit_json())
