"""Object storage (S3-compatible): content-addressed uploads, single or multipart, and cleanup."""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, aclosing, suppress
from types import TracebackType
from typing import Any

import aioboto3
import aiohttp
from aiobotocore.config import AioConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    ReadTimeoutError,
)

from orchestrator.storage import protocol
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
    within_limit,
)
from orchestrator.telemetry.logs import redact_text

MIN_PART_BYTES = 5 * 1024 * 1024  # S3's minimum part size (every part but the last)
MAX_PARTS = 10_000  # S3's maximum number of parts in one upload
SHA256_METADATA = "sha256"  # user metadata key: x-amz-meta-sha256

# S3 error codes that mean "the server is busy or broken", not "your request is wrong".
_RETRYABLE_CODES = frozenset(
    {
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "Throttling",
        "ThrottlingException",
        "TooManyRequests",
    }
)


# S3 error codes that mean "this bucket cannot be used with these credentials": none of them
# passes by itself, and none is about one object. (A 403 of any code is the same.)
_BUCKET_CODES = frozenset(
    {
        "NoSuchBucket",
        "AccessDenied",
        "AllAccessDisabled",
        "AccountProblem",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidBucketName",
        "PermanentRedirect",
        "AuthorizationHeaderMalformed",
    }
)


class S3Storage(ObjectStorage):
    """Object storage over S3, one client for the daemon's lifetime:
    ``async with S3Storage(...) as s:``.

    Objects are addressed path-style (``{public_url_base}/{bucket}/{key}``), as SpeechKit
    fetches them. ``attempts`` bounds botocore's own quick retries of one request.
    """

    # Each S3 setting a named parameter, as the config spells it; the daemon passes them
    # one by one (a settings object would change every caller at once).
    def __init__(  # noqa: PLR0913
        self,
        endpoint_url: str,
        region: str,
        bucket: str,
        access_key_id: str,
        secret_access_key: str,
        public_url_base: str,
        multipart_threshold: int = 64 * 1024 * 1024,
        multipart_chunk: int = 16 * 1024 * 1024,
        *,
        attempts: int = 3,
    ) -> None:
        if multipart_chunk < MIN_PART_BYTES:
            raise ValueError(f"multipart_chunk must be at least {MIN_PART_BYTES} bytes")
        self.bucket = bucket
        self.public_url_base = public_url_base.rstrip("/")
        self.multipart_threshold = multipart_threshold
        self.multipart_chunk = multipart_chunk
        self._endpoint_url = endpoint_url
        self._region = region
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._attempts = attempts
        self._stack: AsyncExitStack | None = None
        self._client: Any = None

    async def __aenter__(self) -> S3Storage:
        session = aioboto3.Session(
            aws_access_key_id=self._access_key_id,
            aws_secret_access_key=self._secret_access_key,
            region_name=self._region,
        )
        config = AioConfig(
            s3={"addressing_style": "path"},
            # Our pipeline retries with its own backoff; botocore's should stay short.
            retries={"max_attempts": self._attempts, "mode": "standard"},
            # Newer botocore adds CRC checksums that S3-compatible stores may reject.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            connect_timeout=30,
            read_timeout=120,
        )
        stack = AsyncExitStack()
        try:
            self._client = await stack.enter_async_context(
                session.client("s3", endpoint_url=self._endpoint_url, config=config)
            )
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    # -- naming ------------------------------------------------------------------------

    # -- operations --------------------------------------------------------------------

    async def head(self, key: str) -> ObjectInfo | None:
        """Size and sha256 metadata of an object, or None if there is none."""
        try:
            answer = await self._s3().head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _status(exc) == 404:
                return None
            raise self._wrap(exc, "head", key) from exc
        except Exception as exc:
            raise self._wrap(exc, "head", key) from exc
        metadata = answer.get("Metadata") or {}
        sha = metadata.get(SHA256_METADATA)
        return ObjectInfo(key=key, size=int(answer["ContentLength"]), sha256=sha)

    async def delete(self, key: str) -> None:
        """Delete an object; deleting a missing object is not an error."""
        try:
            await self._s3().delete_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            raise self._wrap(exc, "delete", key) from exc

    async def get_bytes(self, key: str, limit: int) -> bytes | None:
        """An object's bytes (None when there is none); StorageError past ``limit`` bytes."""
        try:
            answer = await self._s3().get_object(Bucket=self.bucket, Key=key)
            body = answer["Body"]
            # The StreamingBody reads at most ``limit + 1``; what its ``async with`` gives
            # is the raw response, whose read() takes no limit.
            async with body:
                data: bytes = await body.read(limit + 1)
        except ClientError as exc:
            if _status(exc) == 404:
                return None
            raise self._wrap(exc, "get", key) from exc
        except Exception as exc:
            raise self._wrap(exc, "get", key) from exc
        return within_limit(key, data, limit)

    async def upload(
        self,
        key: str,
        chunks: Chunks,
        size: int,
        sha256: str,
        on_progress: Progress | None = None,
    ) -> None:
        """Store ``size`` bytes under ``key`` with their sha256 as metadata.

        One PUT below the multipart threshold, a multipart upload above it (aborted on
        any failure). The bytes are checked against ``size`` and ``sha256`` before the
        object becomes visible, so a content-addressed key never holds other content.
        """
        try:
            async with aclosing(each_chunk(chunks)) as stream:
                if size < self.multipart_threshold:
                    await self._put(key, stream, size, sha256, on_progress)
                else:
                    await self._multipart(key, stream, size, sha256, on_progress)
        except SourceError as exc:
            raise exc.original from exc.original.__cause__

    # -- internals ---------------------------------------------------------------------

    def _s3(self) -> Any:
        if self._client is None:
            raise RuntimeError("S3Storage is used outside 'async with'")
        return self._client

    async def _put(
        self,
        key: str,
        stream: AsyncIterator[bytes],
        size: int,
        sha256: str,
        on_progress: Progress | None,
    ) -> None:
        # Below the threshold the body is small enough to hold: a PUT needs it whole.
        body = bytearray()
        async for data in stream:
            body += data
            if len(body) > size:
                break
        digest = await asyncio.to_thread(lambda: hashlib.sha256(body).hexdigest())
        check_content(key, len(body), size, digest, sha256)
        try:
            await self._s3().put_object(
                Bucket=self.bucket,
                Key=key,
                Body=bytes(body),
                ContentLength=size,
                ContentType="application/octet-stream",
                Metadata={SHA256_METADATA: sha256},
            )
        except Exception as exc:
            raise self._wrap(exc, "upload", key) from exc
        if on_progress is not None:
            on_progress(size)

    async def _multipart(
        self,
        key: str,
        stream: AsyncIterator[bytes],
        size: int,
        sha256: str,
        on_progress: Progress | None,
    ) -> None:
        part_size = max(self.multipart_chunk, math.ceil(size / MAX_PARTS))
        s3 = self._s3()
        try:
            created = await s3.create_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                ContentType="application/octet-stream",
                Metadata={SHA256_METADATA: sha256},
            )
        except Exception as exc:
            raise self._wrap(exc, "upload", key) from exc
        upload_id = created["UploadId"]
        try:
            done, digest, parts = await self._send_parts(
                key, upload_id, stream, size, part_size, on_progress
            )
            check_content(key, done, size, digest, sha256)
            await s3.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException as exc:
            # Parts of an unfinished upload are billed until aborted: never leave them.
            await self._abort(key, upload_id)
            if isinstance(exc, StorageError | SourceError) or not isinstance(exc, Exception):
                raise
            raise self._wrap(exc, "upload", key) from exc

    async def _send_parts(
        self,
        key: str,
        upload_id: str,
        stream: AsyncIterator[bytes],
        size: int,
        part_size: int,
        on_progress: Progress | None,
    ) -> tuple[int, str, list[dict[str, Any]]]:
        """Upload the stream's parts (stopping once past ``size``): the bytes read, their
        sha256 and the parts for the upload's completion."""
        hasher = hashlib.sha256()
        done = 0
        parts: list[dict[str, Any]] = []
        async with aclosing(protocol.parts(stream, part_size)) as cut:
            async for part in cut:
                await asyncio.to_thread(hasher.update, part)
                done += len(part)
                if done > size:
                    break
                answer = await self._s3().upload_part(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=len(parts) + 1,
                    Body=part,
                    ContentLength=len(part),
                )
                parts.append({"PartNumber": len(parts) + 1, "ETag": answer["ETag"]})
                if on_progress is not None:
                    on_progress(done)
        return done, hasher.hexdigest(), parts

    async def _abort(self, key: str, upload_id: str) -> None:
        # The original failure is the one worth reporting, not a failed clean-up.
        with suppress(Exception):
            await asyncio.shield(
                self._s3().abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            )

    def _scrub(self, text: str) -> str:
        for secret in (self._secret_access_key, self._access_key_id):
            if secret:
                text = text.replace(secret, "***")
        return redact_text(text)

    def _wrap(self, exc: BaseException, action: str, key: str) -> StorageError:
        """A StorageError for a botocore/aiohttp failure, without credentials in the text."""
        where = f"{action} s3://{self.bucket}/{key}"
        if isinstance(exc, StorageError):
            return exc
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code") or _status(exc) or "error")
            message = str(error.get("Message") or "")
            text = f"{where}: {code}" + (f": {message}" if message else "")
            return StorageError(_kind(code, _status(exc)), self._scrub(text), code)
        transient = (
            EndpointConnectionError,
            ConnectionClosedError,
            ConnectTimeoutError,
            ReadTimeoutError,
            HTTPClientError,
            aiohttp.ClientError,
            TimeoutError,
            ConnectionError,
        )
        if isinstance(exc, transient):
            detail = str(exc) or type(exc).__name__
            return StorageError(StorageErrorKind.RETRYABLE, self._scrub(f"{where}: {detail}"))
        if isinstance(exc, BotoCoreError | OSError):
            detail = str(exc) or type(exc).__name__
            return StorageError(StorageErrorKind.PERMANENT, self._scrub(f"{where}: {detail}"))
        return StorageError(
            StorageErrorKind.PERMANENT, self._scrub(f"{where}: {type(exc).__name__}: {exc}")
        )


def _kind(code: str, status: int | None) -> StorageErrorKind:
    """What an S3 error answer means: the bucket unusable, a passing trouble, or this
    request's fault."""
    if code in _BUCKET_CODES or status == 403:
        return StorageErrorKind.BUCKET
    if code in _RETRYABLE_CODES or (status is not None and status >= 500):
        return StorageErrorKind.RETRYABLE
    return StorageErrorKind.PERMANENT


def _status(exc: ClientError) -> int | None:
    meta = exc.response.get("ResponseMetadata", {})
    status = meta.get("HTTPStatusCode")
    return status if isinstance(status, int) else None
