"""What the daemon asks of object storage (the seam, as httpx's transports are one), the
errors and facts it answers with, and the behaviour every implementation shares.

The S3 implementation is ``storage.s3``; ``storage.local`` keeps objects as files, for
tests and demos where S3 itself is not the subject. Outside ``storage/`` only this module
is imported; ``storage.factory`` builds the configured one.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self

_HEX64 = re.compile(r"[0-9a-f]{64}")

Progress = Callable[[int], None]
"""Told the bytes stored so far, as an upload goes."""
Chunks = AsyncIterator[bytes] | Iterator[bytes]


class StorageErrorKind(enum.Enum):
    """Whether a storage failure may go away by itself."""

    RETRYABLE = "retryable"
    PERMANENT = "permanent"
    # The bucket itself cannot be used (there is none, the credentials are refused, they
    # grant no rights): no object operation succeeds until someone mends it, and then
    # every one does. Not the object's fault: what needs the bucket waits.
    BUCKET = "bucket"


class StorageError(Exception):
    """A failed storage operation; the message never contains credentials."""

    def __init__(self, kind: StorageErrorKind, message: str, code: str | None = None) -> None:
        self.kind = kind
        self.message = message
        self.code = code
        super().__init__(f"{kind.value}: {message}")

    @property
    def retryable(self) -> bool:
        """True when trying again later may succeed."""
        return self.kind is StorageErrorKind.RETRYABLE

    @property
    def bucket_wide(self) -> bool:
        """True when the bucket itself is unusable until someone mends it."""
        return self.kind is StorageErrorKind.BUCKET


@dataclass(frozen=True)
class ObjectInfo:
    """What storage says about an object."""

    key: str
    size: int
    sha256: str | None  # our metadata; None for an object we did not upload


def object_key(prefix: str, content_hash: str, suffix: str = "") -> str:
    """The key of some audio content: the same bytes always land at the same key."""
    if not _HEX64.fullmatch(content_hash):
        raise ValueError("content_hash must be a lowercase sha256 hex digest")
    if suffix and not re.fullmatch(r"\.[A-Za-z0-9]{1,10}", suffix):
        raise ValueError(f"suffix {suffix!r} must look like '.ogg'")
    prefix = prefix.strip("/")
    name = f"{content_hash}{suffix}"
    return f"{prefix}/{name}" if prefix else name


class ObjectStorage(Protocol):
    """One bucket of objects, used inside ``async with``: content-addressed uploads,
    small texts written once, reads, deletes. Objects are linked for SpeechKit as
    ``{public_url_base}/{bucket}/{key}``."""

    bucket: str
    public_url_base: str

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    # An implementation subclasses this Protocol explicitly and inherits what follows with
    # a body: the key's naming and the two writes built on ``head`` and ``upload``.

    async def check(self, prefix: str) -> None:
        """Whether the bucket takes the daemon's objects now: a small object is written
        under ``prefix`` (the rights uploads need, not merely the bucket's existence), then
        deleted where the credentials may delete (where not, it stays: one tiny object).
        StorageError, of kind BUCKET when the bucket itself is unusable, when not."""
        key = check_key(prefix)
        await self.upload(key, iter([CHECK_BYTES]), len(CHECK_BYTES), CHECK_SHA256)
        with suppress(StorageError):
            # Deleting is a right of its own (storage.editor), not one uploads need.
            await self.delete(key)

    @staticmethod
    def object_key(prefix: str, content_hash: str, suffix: str = "") -> str:
        """The content-addressed key (see the module-level ``object_key``)."""
        return object_key(prefix, content_hash, suffix)

    async def head(self, key: str) -> ObjectInfo | None:
        """Size and sha256 of an object, or None if there is none."""
        ...

    async def delete(self, key: str) -> None:
        """Delete an object; deleting a missing object is not an error."""
        ...

    async def get_bytes(self, key: str, limit: int) -> bytes | None:
        """An object's bytes (None when there is none); StorageError past ``limit`` bytes."""
        ...

    async def put_text(self, key: str, text: str) -> bool:
        """Store ``text`` (UTF-8) under ``key`` unless the same bytes are there already;
        True when it wrote (a transcript or report written before a restart is not
        written again)."""
        data = text.encode("utf-8")
        sha256 = hashlib.sha256(data).hexdigest()
        info = await self.head(key)
        if info is not None and info.size == len(data) and info.sha256 == sha256:
            return False
        await self.upload(key, iter([data]), len(data), sha256)
        return True

    async def ensure_uploaded(
        self,
        key: str,
        size: int,
        sha256: str,
        open_chunks: Callable[[], Iterator[bytes]],
        on_progress: Progress | None = None,
    ) -> bool:
        """Upload what ``open_chunks()`` yields unless the same size and sha256 are there
        already (the source is only opened when it is needed); True when it uploaded. The
        source's own errors pass through unchanged: they are not storage failures."""
        info = await self.head(key)
        if info is not None and info.size == size and info.sha256 == sha256:
            return False
        chunks = open_chunks()
        try:
            await self.upload(key, chunks, size, sha256, on_progress)
        finally:
            # A cancelled read may still be running in its thread; then GC closes the file.
            close = getattr(chunks, "close", None)
            if close is not None:
                with suppress(ValueError):
                    close()
        return True

    async def upload(
        self,
        key: str,
        chunks: Chunks,
        size: int,
        sha256: str,
        on_progress: Progress | None = None,
    ) -> None:
        """Store ``size`` bytes under ``key``, checked against ``size`` and ``sha256``
        before the object becomes visible."""
        ...


# -- what every implementation shares ----------------------------------------------------


class SourceError(Exception):
    """The bytes to upload could not be read: the caller's failure, passed on unchanged."""

    def __init__(self, original: Exception) -> None:
        super().__init__(str(original))
        self.original = original


async def each_chunk(chunks: Chunks) -> AsyncGenerator[bytes, None]:
    """Iterate either kind; a blocking iterator (a file) is advanced in a worker thread.
    A failure of the source itself is marked, so that it is not taken for storage's."""
    end = object()
    while True:
        try:
            if isinstance(chunks, AsyncIterator):
                item: Any = await anext(chunks, end)
            else:
                item = await asyncio.to_thread(next, chunks, end)
        except Exception as exc:
            raise SourceError(exc) from exc
        if item is end:
            return
        yield item


async def parts(chunks: AsyncIterator[bytes], part_size: int) -> AsyncGenerator[bytes, None]:
    """Re-cut a stream into parts of exactly ``part_size`` bytes (the last one shorter)."""
    buffer = bytearray()
    async for data in chunks:
        buffer += data
        while len(buffer) >= part_size:
            yield bytes(buffer[:part_size])
            del buffer[:part_size]
    if buffer:
        yield bytes(buffer)


CHECK_NAME = ".write-check"
"""The object a check writes under the key prefix (always the same, a few bytes)."""
CHECK_BYTES = b"speechkit-orchestrator may write here\n"
CHECK_SHA256 = hashlib.sha256(CHECK_BYTES).hexdigest()


def check_key(prefix: str) -> str:
    """The key of the object that ``check`` writes under ``prefix``."""
    prefix = prefix.strip("/")
    return f"{prefix}/{CHECK_NAME}" if prefix else CHECK_NAME


def within_limit(key: str, data: bytes | None, limit: int) -> bytes | None:
    """An object's bytes, read up to ``limit + 1`` of them; StorageError past ``limit``."""
    if data is not None and len(data) > limit:
        raise StorageError(StorageErrorKind.PERMANENT, f"{key}: larger than {limit} bytes")
    return data


def check_content(key: str, got_size: int, size: int, digest: str, sha256: str) -> None:
    """Refuse bytes that are not what the upload declared (their size or their hash)."""
    if got_size != size:
        raise StorageError(
            StorageErrorKind.PERMANENT,
            f"upload {key}: got {got_size} bytes, expected {size} (did the file change?)",
        )
    if digest != sha256:
        raise StorageError(
            StorageErrorKind.PERMANENT,
            f"upload {key}: content sha256 {digest} differs from the expected {sha256}",
        )
