"""Object storage in a local directory: each object a file under ``root/bucket/``, its
sha256 kept beside it under ``root/.sha256/bucket/``. For tests and demos where S3 itself
is not the subject; SpeechKit cannot fetch from it, so audio for v2/v3 still needs S3."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing, suppress
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from orchestrator.storage.protocol import (
    Chunks,
    ObjectInfo,
    ObjectStorage,
    Progress,
    SourceError,
    StorageError,
    StorageErrorKind,
    check_content,
    each_chunk,
    parts,
    within_limit,
)

CHUNK_BYTES = 16 * 1024 * 1024  # written (and reported to ``on_progress``) this much at a time
HASHES_DIR = ".sha256"


class LocalStorage(ObjectStorage):
    """Objects as files under ``root``: ``async with LocalStorage(root, bucket) as s:``.

    Links point at the files themselves (``file:///root/bucket/key``) unless another
    ``public_url_base`` is given."""

    def __init__(
        self,
        root: Path,
        bucket: str,
        public_url_base: str | None = None,
        *,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self.root = root
        self.bucket = bucket
        base = public_url_base if public_url_base is not None else root.absolute().as_uri()
        self.public_url_base = base.rstrip("/")
        self.chunk_bytes = chunk_bytes

    async def __aenter__(self) -> LocalStorage:
        await asyncio.to_thread((self.root / self.bucket).mkdir, parents=True, exist_ok=True)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    # -- operations --------------------------------------------------------------------

    async def head(self, key: str) -> ObjectInfo | None:
        """Size and sha256 of an object, or None if there is none."""
        path, hash_path = self._paths(key)
        try:
            return await asyncio.to_thread(_info, key, path, hash_path)
        except OSError as exc:
            raise _wrap(exc, "head", key) from exc

    async def delete(self, key: str) -> None:
        """Delete an object; deleting a missing object is not an error."""
        path, hash_path = self._paths(key)
        try:
            for gone in (hash_path, path):
                await asyncio.to_thread(gone.unlink, missing_ok=True)
        except OSError as exc:
            raise _wrap(exc, "delete", key) from exc

    async def get_bytes(self, key: str, limit: int) -> bytes | None:
        """An object's bytes (None when there is none); StorageError past ``limit`` bytes."""
        path, _ = self._paths(key)
        try:
            data = await asyncio.to_thread(_read, path, limit + 1)
        except OSError as exc:
            raise _wrap(exc, "get", key) from exc
        return within_limit(key, data, limit)

    async def upload(
        self,
        key: str,
        chunks: Chunks,
        size: int,
        sha256: str,
        on_progress: Progress | None = None,
    ) -> None:
        """Store ``size`` bytes under ``key``: written to a temporary file, checked against
        ``size`` and ``sha256``, then renamed into place (the old hash dropped first, so a
        crash never pairs a file with another content's hash)."""
        path, hash_path = self._paths(key)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
            async with aclosing(each_chunk(chunks)) as stream:
                got, digest = await self._write(temporary, stream, size, on_progress)
            check_content(key, got, size, digest, sha256)
            await asyncio.to_thread(_place, temporary, path, hash_path, sha256)
        except SourceError as exc:
            raise exc.original from exc.original.__cause__
        except OSError as exc:
            raise _wrap(exc, "upload", key) from exc
        finally:
            with suppress(OSError):
                await asyncio.to_thread(temporary.unlink, missing_ok=True)

    # -- internals ---------------------------------------------------------------------

    async def _write(
        self,
        temporary: Path,
        stream: AsyncIterator[bytes],
        size: int,
        on_progress: Progress | None,
    ) -> tuple[int, str]:
        """Write the stream to ``temporary`` (stopping once past ``size``); the bytes read
        and their sha256."""
        hasher, done = hashlib.sha256(), 0
        file: BinaryIO = await asyncio.to_thread(temporary.open, "wb")
        try:
            async with aclosing(parts(stream, self.chunk_bytes)) as cut:
                async for part in cut:
                    done += len(part)
                    if done > size:
                        break
                    await asyncio.to_thread(_append, file, hasher, part)
                    if on_progress is not None:
                        on_progress(done)
        finally:
            await asyncio.to_thread(file.close)
        return done, hasher.hexdigest()

    def _paths(self, key: str) -> tuple[Path, Path]:
        """The object's file and its hash's file; a key that would leave the bucket is
        refused."""
        segments = key.split("/")
        if any(segment in ("", ".", "..") for segment in segments):
            raise StorageError(StorageErrorKind.PERMANENT, f"{key!r}: not a valid object key")
        return (
            self.root.joinpath(self.bucket, *segments),
            self.root.joinpath(HASHES_DIR, self.bucket, *segments),
        )


def _info(key: str, path: Path, hash_path: Path) -> ObjectInfo | None:
    if not path.is_file():
        return None
    size = path.stat().st_size
    try:
        sha256: str | None = hash_path.read_text("ascii").strip()
    except FileNotFoundError:
        sha256 = None
    return ObjectInfo(key=key, size=size, sha256=sha256)


def _read(path: Path, limit: int) -> bytes | None:
    try:
        with path.open("rb") as file:
            return file.read(limit)
    except (FileNotFoundError, IsADirectoryError):
        return None


def _append(file: BinaryIO, hasher: hashlib._Hash, data: bytes) -> None:
    hasher.update(data)
    file.write(data)


def _place(temporary: Path, path: Path, hash_path: Path, sha256: str) -> None:
    hash_path.unlink(missing_ok=True)
    os.replace(temporary, path)
    hash_path.parent.mkdir(parents=True, exist_ok=True)
    staged = hash_path.with_name(f".{hash_path.name}.part")
    staged.write_text(sha256, "ascii")
    os.replace(staged, hash_path)


def _wrap(exc: OSError, action: str, key: str) -> StorageError:
    """A StorageError for a file system failure: a full disk may pass, so it is retryable."""
    detail = exc.strerror or str(exc) or type(exc).__name__
    return StorageError(StorageErrorKind.RETRYABLE, f"{action} {key}: {detail}")
