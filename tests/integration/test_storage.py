"""ObjectStorage against moto's real S3 server on loopback."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from orchestrator.core.refs import ObjectRef
from orchestrator.intake.audio import AudioError, read_range
from orchestrator.storage.s3 import (
    ObjectStorage,
    StorageError,
    StorageErrorKind,
    object_key,
)
from tests.conftest import S3Server

MIB = 1024 * 1024
PUBLIC = "https://storage.example.test"


def _storage(s3: S3Server, bucket: str, threshold: int = 5 * MIB) -> ObjectStorage:
    return ObjectStorage(
        endpoint_url=s3.endpoint_url,
        region=s3.region,
        bucket=bucket,
        access_key_id=s3.access_key,
        secret_access_key=s3.secret_key,
        public_url_base=PUBLIC,
        multipart_threshold=threshold,
        multipart_chunk=5 * MIB,
    )


def _get(s3: S3Server, bucket: str, key: str) -> dict[str, Any]:
    answer: dict[str, Any] = s3.client().get_object(Bucket=bucket, Key=key)  # type: ignore[attr-defined]
    return answer


def _chunks(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


@pytest.fixture
def big_file(tmp_path: Path) -> tuple[Path, bytes]:
    """12 MiB of random bytes after a 44-byte 'header' that must not be uploaded."""
    path = tmp_path / "big.raw"
    payload = os.urandom(12 * MIB)
    path.write_bytes(b"H" * 44 + payload)
    return path, payload


def test_object_key_is_content_addressed() -> None:
    digest = hashlib.sha256(b"audio").hexdigest()
    assert object_key("audio/", digest, ".ogg") == f"audio/{digest}.ogg"
    assert object_key("", digest) == digest
    assert ObjectStorage.object_key("a/b", digest, ".pcm") == f"a/b/{digest}.pcm"
    with pytest.raises(ValueError, match="sha256"):
        object_key("audio", "../etc/passwd", "")
    with pytest.raises(ValueError, match="suffix"):
        object_key("audio", digest, "/x")


def test_rejects_parts_below_s3_minimum(s3_server: S3Server) -> None:
    with pytest.raises(ValueError, match="multipart_chunk"):
        ObjectStorage(s3_server.endpoint_url, "r", "b", "a", "s", PUBLIC, multipart_chunk=MIB)


async def test_single_put_then_head_and_uri(s3_server: S3Server, s3_bucket: str) -> None:
    data = b"small audio" * 100
    digest = hashlib.sha256(data).hexdigest()
    seen: list[int] = []
    async with _storage(s3_server, s3_bucket) as storage:
        key = storage.object_key("audio", digest, ".ogg")
        assert await storage.head(key) is None
        await storage.upload(key, _chunks(data, 7), len(data), digest, seen.append)
        info = await storage.head(key)
        assert (
            ObjectRef(storage.bucket, key).link(PUBLIC)
            == f"{PUBLIC}/{s3_bucket}/audio/{digest}.ogg"
        )
    assert info is not None
    assert (info.size, info.sha256) == (len(data), digest)
    assert seen == [len(data)]
    answer = _get(s3_server, s3_bucket, key)
    assert answer["Body"].read() == data
    assert answer["Metadata"] == {"sha256": digest}


async def test_multipart_upload_of_a_file_range(
    s3_server: S3Server, s3_bucket: str, big_file: tuple[Path, bytes]
) -> None:
    path, payload = big_file
    digest = hashlib.sha256(payload).hexdigest()
    size = len(payload)
    opened: list[int] = []

    def source() -> Iterator[bytes]:
        opened.append(1)
        return read_range(path, 44, size)

    seen: list[int] = []
    async with _storage(s3_server, s3_bucket) as storage:
        key = storage.object_key("audio", digest, ".pcm")
        assert await storage.ensure_uploaded(key, size, digest, source, seen.append) is True
        # Same content, same key: found by HEAD, not uploaded again (nor read).
        assert await storage.ensure_uploaded(key, size, digest, source, seen.append) is False
    assert opened == [1]
    assert seen == [5 * MIB, 10 * MIB, 12 * MIB]
    answer = _get(s3_server, s3_bucket, key)
    assert answer["Body"].read() == payload
    assert answer["Metadata"] == {"sha256": digest}
    assert answer["ETag"].endswith('-3"')  # three parts: 5 + 5 + 2 MiB


async def test_async_chunks_and_reupload_when_metadata_differs(
    s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    data = os.urandom(3000)
    digest = hashlib.sha256(data).hexdigest()
    path = tmp_path / "a.ogg"
    path.write_bytes(data)
    key = f"audio/{digest}.ogg"
    s3_server.client().put_object(Bucket=s3_bucket, Key=key, Body=data)  # type: ignore[attr-defined]

    async def agen() -> AsyncIterator[bytes]:
        yield data[:1000]
        yield data[1000:]

    async with _storage(s3_server, s3_bucket) as storage:
        # An object without our metadata does not count as uploaded.
        reader = partial(read_range, path, 0, len(data))
        assert await storage.ensure_uploaded(key, len(data), digest, reader) is True
        await storage.upload(key, agen(), len(data), digest)
        info = await storage.head(key)
    assert info is not None
    assert info.sha256 == digest


async def test_delete_is_idempotent(s3_server: S3Server, s3_bucket: str) -> None:
    data = b"x" * 10
    digest = hashlib.sha256(data).hexdigest()
    async with _storage(s3_server, s3_bucket) as storage:
        key = storage.object_key("p", digest)
        await storage.upload(key, iter([data]), len(data), digest)
        assert await storage.head(key) is not None
        await storage.delete(key)
        assert await storage.head(key) is None
        await storage.delete(key)


async def test_missing_bucket_is_permanent_without_credentials(s3_server: S3Server) -> None:
    data = b"x" * 10
    digest = hashlib.sha256(data).hexdigest()
    async with _storage(s3_server, "no-such-bucket-here") as storage:
        with pytest.raises(StorageError) as caught:
            await storage.upload("k", iter([data]), len(data), digest)
    assert caught.value.kind is StorageErrorKind.PERMANENT
    assert "NoSuchBucket" in str(caught.value)
    assert s3_server.secret_key not in str(caught.value)
    assert s3_server.access_key not in str(caught.value)


async def test_failed_multipart_upload_is_aborted(s3_server: S3Server, s3_bucket: str) -> None:
    def failing() -> Iterator[bytes]:
        yield b"a" * (6 * MIB)
        raise OSError("disk went away")

    async with _storage(s3_server, s3_bucket) as storage:
        # The source's own failure comes back as it was (not a storage failure)...
        with pytest.raises(OSError, match="disk went away") as caught:
            await storage.upload("k", failing(), 12 * MIB, "0" * 64)
        assert await storage.head("k") is None
    assert not isinstance(caught.value, StorageError)
    # ...and the upload is aborted all the same.
    pending = s3_server.client().list_multipart_uploads(Bucket=s3_bucket)  # type: ignore[attr-defined]
    assert pending.get("Uploads", []) == []


@pytest.mark.parametrize("size", [100, 12 * MIB])
async def test_content_must_match_declared_hash(
    s3_server: S3Server, s3_bucket: str, size: int
) -> None:
    data = b"z" * size
    async with _storage(s3_server, s3_bucket) as storage:
        with pytest.raises(StorageError, match="sha256") as caught:
            await storage.upload("k", _chunks(data, MIB), size, "0" * 64)
        assert await storage.head("k") is None
    assert caught.value.kind is StorageErrorKind.PERMANENT


async def test_a_source_that_fails_is_its_own_error_not_storages(
    s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    path = tmp_path / "short"
    path.write_bytes(b"abc")
    async with _storage(s3_server, s3_bucket) as storage:
        with pytest.raises(AudioError, match="changed after it was checked"):
            await storage.ensure_uploaded("k", 10, "0" * 64, partial(read_range, path, 0, 10))
        gone = partial(read_range, tmp_path / "gone", 0, 10)
        with pytest.raises(AudioError, match="cannot read") as caught:
            await storage.ensure_uploaded("k", 10, "0" * 64, gone)
        # Above the multipart threshold too, and nothing is left behind.
        big = 20 * MIB
        with pytest.raises(AudioError, match="changed after it was checked"):
            await storage.ensure_uploaded("k", big, "0" * 64, partial(read_range, path, 0, big))
        assert await storage.head("k") is None
    assert caught.value.path == str(tmp_path / "gone")


async def test_unreachable_endpoint_is_retryable(s3_server: S3Server) -> None:
    storage = ObjectStorage(
        "http://127.0.0.1:9", s3_server.region, "b", "ak", "sk", PUBLIC, attempts=1
    )
    async with storage:
        with pytest.raises(StorageError) as caught:
            await storage.head("k")
    assert caught.value.kind is StorageErrorKind.RETRYABLE
