"""The object storage contract, against moto's real S3 server on loopback and against a
local directory: each test of the contract runs on both; S3's own matters (multipart
parts, buckets, endpoints, credentials) on S3 alone."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from orchestrator.core.refs import ObjectRef
from orchestrator.intake.audio import AudioError, read_range
from orchestrator.storage.local import HASHES_DIR, LocalStorage
from orchestrator.storage.protocol import (
    ObjectStorage,
    StorageError,
    StorageErrorKind,
    check_key,
    object_key,
)
from orchestrator.storage.s3 import S3Storage
from tests.conftest import S3Server
from tests.support.proxy import RefusingProxy

MIB = 1024 * 1024
PUBLIC = "https://storage.example.test"


def _storage(s3: S3Server, bucket: str, threshold: int = 5 * MIB) -> S3Storage:
    return S3Storage(
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


@dataclass
class Backend:
    """One implementation under test, and its own ways to look behind the interface."""

    kind: str
    bucket: str
    s3: S3Server | None = None
    root: Path | None = None

    def storage(self) -> ObjectStorage:
        """A fresh client (parts of 5 MiB: multipart above that on S3)."""
        if self.s3 is not None:
            return _storage(self.s3, self.bucket)
        assert self.root is not None
        return LocalStorage(self.root, self.bucket, PUBLIC, chunk_bytes=5 * MIB)

    def stored(self, key: str) -> tuple[bytes, str | None]:
        """The object's bytes and the sha256 kept with them, read past the interface."""
        if self.s3 is not None:
            answer = _get(self.s3, self.bucket, key)
            return answer["Body"].read(), answer["Metadata"].get("sha256")
        assert self.root is not None
        hashes = self.root / HASHES_DIR / self.bucket / key
        sha = hashes.read_text("ascii") if hashes.exists() else None
        return (self.root / self.bucket / key).read_bytes(), sha

    def put_foreign(self, key: str, data: bytes) -> None:
        """An object put there by someone else: no sha256 kept with it."""
        if self.s3 is not None:
            self.s3.client().put_object(Bucket=self.bucket, Key=key, Body=data)  # type: ignore[attr-defined]
            return
        assert self.root is not None
        path = self.root / self.bucket / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def leftovers(self) -> list[Any]:
        """What a failed upload left behind: S3's unfinished multipart uploads, the
        directory's temporary files."""
        if self.s3 is not None:
            pending = self.s3.client().list_multipart_uploads(Bucket=self.bucket)  # type: ignore[attr-defined]
            return list(pending.get("Uploads", []))
        assert self.root is not None
        return [p for p in self.root.rglob("*") if p.name.endswith(".part")]


@pytest.fixture(params=["s3", "local"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each implementation in turn (the S3 one on a new bucket of the session's server)."""
    if request.param == "s3":
        s3: S3Server = request.getfixturevalue("s3_server")
        return Backend("s3", request.getfixturevalue("s3_bucket"), s3=s3)
    return Backend("local", "test-bucket", root=tmp_path / "objects")


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
    assert S3Storage.object_key("a/b", digest, ".pcm") == f"a/b/{digest}.pcm"
    assert LocalStorage.object_key("a/b", digest, ".pcm") == f"a/b/{digest}.pcm"
    with pytest.raises(ValueError, match="sha256"):
        object_key("audio", "../etc/passwd", "")
    with pytest.raises(ValueError, match="suffix"):
        object_key("audio", digest, "/x")


def test_rejects_parts_below_s3_minimum(s3_server: S3Server) -> None:
    with pytest.raises(ValueError, match="multipart_chunk"):
        S3Storage(s3_server.endpoint_url, "r", "b", "a", "s", PUBLIC, multipart_chunk=MIB)


async def test_single_put_then_head_and_uri(backend: Backend) -> None:
    data = b"small audio" * 100
    digest = hashlib.sha256(data).hexdigest()
    seen: list[int] = []
    async with backend.storage() as storage:
        key = storage.object_key("audio", digest, ".ogg")
        assert await storage.head(key) is None
        await storage.upload(key, _chunks(data, 7), len(data), digest, seen.append)
        info = await storage.head(key)
        assert (
            ObjectRef(storage.bucket, key).link(PUBLIC)
            == f"{PUBLIC}/{backend.bucket}/audio/{digest}.ogg"
        )
        assert await storage.get_bytes(key, len(data)) == data
    assert info is not None
    assert (info.size, info.sha256) == (len(data), digest)
    assert seen == [len(data)]
    assert backend.stored(key) == (data, digest)


async def test_multipart_upload_of_a_file_range(
    backend: Backend, big_file: tuple[Path, bytes]
) -> None:
    path, payload = big_file
    digest = hashlib.sha256(payload).hexdigest()
    size = len(payload)
    opened: list[int] = []

    def source() -> Iterator[bytes]:
        opened.append(1)
        return read_range(path, 44, size)

    seen: list[int] = []
    async with backend.storage() as storage:
        key = storage.object_key("audio", digest, ".pcm")
        assert await storage.ensure_uploaded(key, size, digest, source, seen.append) is True
        # Same content, same key: found by HEAD, not uploaded again (nor read).
        assert await storage.ensure_uploaded(key, size, digest, source, seen.append) is False
    assert opened == [1]
    assert seen == [5 * MIB, 10 * MIB, 12 * MIB]
    assert backend.stored(key) == (payload, digest)
    if backend.s3 is not None:
        answer = _get(backend.s3, backend.bucket, key)
        assert answer["ETag"].endswith('-3"')  # three parts: 5 + 5 + 2 MiB


async def test_async_chunks_and_reupload_when_metadata_differs(
    backend: Backend, tmp_path: Path
) -> None:
    data = os.urandom(3000)
    digest = hashlib.sha256(data).hexdigest()
    path = tmp_path / "a.ogg"
    path.write_bytes(data)
    key = f"audio/{digest}.ogg"
    backend.put_foreign(key, data)

    async def agen() -> AsyncIterator[bytes]:
        yield data[:1000]
        yield data[1000:]

    async with backend.storage() as storage:
        # An object without our metadata does not count as uploaded.
        reader = partial(read_range, path, 0, len(data))
        assert await storage.ensure_uploaded(key, len(data), digest, reader) is True
        await storage.upload(key, agen(), len(data), digest)
        info = await storage.head(key)
    assert info is not None
    assert info.sha256 == digest


async def test_put_text_writes_only_what_changed(backend: Backend) -> None:
    async with backend.storage() as storage:
        assert await storage.put_text("t/report.json", '{"a": 1}') is True
        assert await storage.put_text("t/report.json", '{"a": 1}') is False
        assert await storage.put_text("t/report.json", '{"a": 2}') is True
        assert await storage.get_bytes("t/report.json", 100) == b'{"a": 2}'
        assert await storage.get_bytes("t/missing.json", 100) is None
        with pytest.raises(StorageError, match="larger than 3 bytes") as caught:
            await storage.get_bytes("t/report.json", 3)
    assert caught.value.kind is StorageErrorKind.PERMANENT


async def test_delete_is_idempotent(backend: Backend) -> None:
    data = b"x" * 10
    digest = hashlib.sha256(data).hexdigest()
    async with backend.storage() as storage:
        key = storage.object_key("p", digest)
        await storage.upload(key, iter([data]), len(data), digest)
        assert await storage.head(key) is not None
        await storage.delete(key)
        assert await storage.head(key) is None
        await storage.delete(key)


async def test_missing_bucket_is_the_buckets_fault_without_credentials(
    s3_server: S3Server,
) -> None:
    data = b"x" * 10
    digest = hashlib.sha256(data).hexdigest()
    async with _storage(s3_server, "no-such-bucket-here") as storage:
        with pytest.raises(StorageError) as caught:
            await storage.upload("k", iter([data]), len(data), digest)
        with pytest.raises(StorageError) as checked:
            await storage.check("audio")
    # Not this object's fault, nor a passing one: what needs the bucket waits for it.
    assert caught.value.kind is StorageErrorKind.BUCKET
    assert not caught.value.retryable
    assert caught.value.code == "NoSuchBucket"
    assert "NoSuchBucket" in str(caught.value)
    assert checked.value.kind is StorageErrorKind.BUCKET
    assert s3_server.secret_key not in str(caught.value)
    assert s3_server.access_key not in str(caught.value)


async def test_a_check_writes_under_the_prefix_and_leaves_nothing(backend: Backend) -> None:
    async with backend.storage() as storage:
        await storage.check("audio/")
        await storage.check("audio")  # again: the same object, written and deleted
        assert await storage.head(check_key("audio")) is None
    assert check_key("audio") == "audio/.write-check"
    assert check_key("") == ".write-check"


async def test_a_check_needs_no_right_to_delete(s3_server: S3Server, s3_bucket: str) -> None:
    """A key that may upload but not delete (storage.uploader) passes the check: the
    object it wrote stays."""
    host, port = s3_server.endpoint_url.removeprefix("http://").split(":")
    async with RefusingProxy(host, int(port), methods={"DELETE"}) as proxy:
        storage = S3Storage(proxy.url, s3_server.region, s3_bucket, "ak", "sk", PUBLIC, attempts=1)
        async with storage:
            await storage.check("audio")
        assert proxy.refused == 1
    data, sha256 = Backend("s3", s3_bucket, s3=s3_server).stored(check_key("audio"))
    assert sha256 == hashlib.sha256(data).hexdigest()
    assert 0 < len(data) < 100


@pytest.mark.parametrize("action", ["head", "check", "upload", "get", "delete"])
async def test_access_denied_is_the_buckets_fault(s3_server: S3Server, action: str) -> None:
    """Credentials without rights: a proxy answers S3's 403 AccessDenied (moto itself
    checks no rights), for an object's HEAD (a bare 403) as for the rest."""
    host, port = s3_server.endpoint_url.removeprefix("http://").split(":")
    async with RefusingProxy(host, int(port)) as proxy:
        storage = S3Storage(proxy.url, s3_server.region, "b", "ak", "sk", PUBLIC, attempts=1)
        async with storage:
            with pytest.raises(StorageError) as caught:
                await _act(storage, action)
        assert proxy.refused >= 1
    assert caught.value.kind is StorageErrorKind.BUCKET
    assert caught.value.bucket_wide


async def _act(storage: ObjectStorage, action: str) -> None:
    """One storage operation, by name."""
    if action == "head":
        await storage.head("k")
    elif action == "check":
        await storage.check("audio")
    elif action == "upload":
        await storage.upload("k", iter([b"x"]), 1, hashlib.sha256(b"x").hexdigest())
    elif action == "get":
        await storage.get_bytes("k", 10)
    else:
        await storage.delete("k")


async def test_failed_multipart_upload_is_aborted(backend: Backend) -> None:
    def failing() -> Iterator[bytes]:
        yield b"a" * (6 * MIB)
        raise OSError("disk went away")

    async with backend.storage() as storage:
        # The source's own failure comes back as it was (not a storage failure)...
        with pytest.raises(OSError, match="disk went away") as caught:
            await storage.upload("k", failing(), 12 * MIB, "0" * 64)
        assert await storage.head("k") is None
    assert not isinstance(caught.value, StorageError)
    # ...and the upload is aborted all the same.
    assert backend.leftovers() == []


@pytest.mark.parametrize("size", [100, 12 * MIB])
async def test_content_must_match_declared_hash(backend: Backend, size: int) -> None:
    data = b"z" * size
    async with backend.storage() as storage:
        with pytest.raises(StorageError, match="sha256") as caught:
            await storage.upload("k", _chunks(data, MIB), size, "0" * 64)
        assert await storage.head("k") is None
    assert caught.value.kind is StorageErrorKind.PERMANENT
    assert backend.leftovers() == []


async def test_a_source_that_fails_is_its_own_error_not_storages(
    backend: Backend, tmp_path: Path
) -> None:
    path = tmp_path / "short"
    path.write_bytes(b"abc")
    async with backend.storage() as storage:
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
    storage = S3Storage("http://127.0.0.1:9", s3_server.region, "b", "ak", "sk", PUBLIC, attempts=1)
    async with storage:
        with pytest.raises(StorageError) as caught:
            await storage.head("k")
    assert caught.value.kind is StorageErrorKind.RETRYABLE


async def test_a_local_key_never_leaves_its_bucket(tmp_path: Path) -> None:
    async with LocalStorage(tmp_path / "objects", "b") as storage:
        for key in ("../outside", "/etc/passwd", "a/./b", ""):
            with pytest.raises(StorageError, match="not a valid object key"):
                await storage.put_text(key, "x")
        # Links point at the files themselves by default.
        assert storage.public_url_base == (tmp_path / "objects").as_uri()
    assert not (tmp_path / "outside").exists()
