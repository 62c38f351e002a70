"""Operations: their records, their JSON as the Operation API shows them, and expiry.

Shapes come from ``yandex/cloud/operation/operation.proto`` and the documentation's examples:
a v2 Operation is ``{"done", "id", "createdAt", "createdBy", "modifiedAt"}``; a v3 one adds
``"description": "STT v3 async recognition"`` and, in the answer to the submission only,
``"metadata": null``. The documented finished v3 Operation has neither ``response`` nor
``metadata`` (its method returns google.protobuf.Empty); ``v3_empty_response`` makes it
carry ``{"@type": ".../google.protobuf.Empty"}`` instead, as operation.proto words it.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from orchestrator.core import constants

_ID_ALPHABET = "abcdefghijklmnopqrstuv0123456789"
# The documentation's examples: v2 operation ids start with "e03", v3 ones with "f8d".
ID_PREFIXES = {"v2": "e03", "v3": "f8d"}


def rfc3339(timestamp: float, resolution_s: float = 0.0) -> str:
    """A Unix time as an RFC 3339 UTC timestamp, cut down to ``resolution_s`` seconds.

    Like protobuf's JSON encoding of a Timestamp: no fraction when it is whole seconds,
    otherwise 3, 6 or 9 digits.
    """
    if resolution_s > 0:
        timestamp = math.floor(timestamp / resolution_s) * resolution_s
    micros = round(timestamp * 1_000_000)
    seconds, micro = divmod(micros, 1_000_000)
    moment = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if micro == 0:
        return moment + "Z"
    if micro % 1000 == 0:
        return f"{moment}.{micro // 1000:03d}Z"
    return f"{moment}.{micro:06d}Z"


def new_operation_id(api: str) -> str:
    """An id shaped like the service's: 20 characters with the API's prefix."""
    number = uuid.uuid4().int
    chars = []
    for _ in range(17):
        number, digit = divmod(number, len(_ID_ALPHABET))
        chars.append(_ID_ALPHABET[digit])
    return ID_PREFIXES.get(api, "e03") + "".join(chars)


def api_of_operation_id(operation_id: str) -> str:
    """The API an operation id belongs to, by its prefix (v2 for anything unknown)."""
    return "v3" if operation_id.startswith(ID_PREFIXES["v3"]) else "v2"


@dataclass
class Operation:
    """One recognition operation and what the emulator counts about it."""

    id: str
    api: str
    model: str
    created_at: float
    modified_at: float
    created_by: str
    resolution_s: float = 0.0
    done: bool = False
    started_at: float | None = None
    finished_at: float | None = None
    finished_monotonic: float | None = None
    response: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    # A failed operation that still says `done: false` (operation.proto allows it).
    error_undone: bool = False
    # API v3: the getRecognition lines, and whether deleteRecognition removed them.
    results: list[dict[str, Any]] | None = None
    results_deleted: bool = False
    result_fetches: int = 0
    # The query parameter names getRecognition was asked with (operationId, operation_id).
    result_params: set[str] = field(default_factory=set)
    expired: bool = False
    audio_seconds: float | None = None
    channels: int | None = None
    silent: bool = False
    status_checks: int = 0
    checks_after_done: int = 0
    first_check_after_done: float | None = None

    def _stamp(self, value: float) -> str:
        return rfc3339(value, self.resolution_s)

    def to_json(self) -> dict[str, Any]:
        """The Operation as GET /operations/{id} returns it."""
        body: dict[str, Any] = {"done": self.done and not self.error_undone, "id": self.id}
        if self.api == "v3":
            body["description"] = constants.V3_OPERATION_DESCRIPTION
        body.update(
            createdAt=self._stamp(self.created_at),
            createdBy=self.created_by,
            modifiedAt=self._stamp(self.modified_at),
        )
        if self.error is not None:
            body["error"] = self.error
        elif self.response is not None:
            body["response"] = self.response
        return body

    def submit_json(self) -> dict[str, Any]:
        """The Operation as the submission answers it (v3 puts `done` last, then `metadata`)."""
        if self.api != "v3":
            return self.to_json()
        return {
            "id": self.id,
            "description": constants.V3_OPERATION_DESCRIPTION,
            "createdAt": self._stamp(self.created_at),
            "createdBy": self.created_by,
            "modifiedAt": self._stamp(self.modified_at),
            "done": False,
            "metadata": None,
        }

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
            "error_undone": self.error_undone,
            "audio_seconds": self.audio_seconds,
            "channels": self.channels,
            "silent": self.silent,
            "status_checks": self.status_checks,
            "checks_after_done": self.checks_after_done,
            "first_check_after_done": self.first_check_after_done,
            "lag_s": lag,
            "result_fetches": self.result_fetches,
            "result_params": sorted(self.result_params),
            "results_deleted": self.results_deleted,
            "expired": self.expired,
        }

    def note_check(self) -> None:
        """Count one status check (an operation GET or, for v3, a getRecognition)."""
        self.status_checks += 1
        if self.done:
            self.checks_after_done += 1
            if self.first_check_after_done is None:
                self.first_check_after_done = time.time()

    def finish(
        self,
        *,
        response: dict[str, Any] | None = None,
        results: list[dict[str, Any]] | None = None,
        error: dict[str, Any] | None = None,
        undone: bool = False,
    ) -> None:
        """End the operation with a response (and v3 results) or an error."""
        now = time.time()
        self.response = response
        self.results = results
        self.error = error
        self.error_undone = undone and error is not None
        self.done = True
        self.finished_at = now
        self.modified_at = now
        self.finished_monotonic = time.monotonic()


@dataclass
class OperationStore:
    """Every operation by id; a finished one becomes unreadable ``ttl_s`` after it finished."""

    ttl_s: float
    resolution_s: float = 0.0
    operations: dict[str, Operation] = field(default_factory=dict)

    def create(self, api: str, model: str, created_by: str) -> Operation:
        """A new running operation."""
        now = time.time()
        operation = Operation(
            id=new_operation_id(api),
            api=api,
            model=model,
            created_at=now,
            modified_at=now,
            created_by=created_by,
            resolution_s=self.resolution_s,
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
            operation.results = None
        return None if operation.expired else operation
