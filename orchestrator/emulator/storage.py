"""Object links and fetching the audio they name from an S3 endpoint."""

from __future__ import annotations

import hashlib
import re
import tempfile
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from orchestrator.core import constants

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# Objects up to this size stay in memory while they are probed; larger ones go to disk.
_SPOOL_BYTES = 16 * 1024 * 1024
_READ_BYTES = 1024 * 1024


class FetchError(Exception):
    """The object cannot be read; ``code`` is the gRPC code the operation fails with."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ObjectRef:
    """A bucket and key named by a storage link."""

    bucket: str
    key: str


def parse_object_uri(uri: str) -> ObjectRef | None:
    """The object named by ``https://storage.yandexcloud.net/<bucket>/<key>``, or None.

    Query parameters (presigned signatures) are ignored, as the service ignores them.
    """
    parts = urlsplit(uri)
    expected = urlsplit(constants.STORAGE_URL)
    if parts.scheme != expected.scheme or parts.netloc != expected.netloc:
        return None
    bucket, _, key = parts.path.lstrip("/").partition("/")
    if not _BUCKET.fullmatch(bucket) or not key:
        return None
    return ObjectRef(bucket=bucket, key=unquote(key))


@dataclass
class FetchedObject:
    """An object's bytes (in a spooled temporary file), size and sha256."""

    file: IO[bytes]
    size: int
    sha256: str

    def close(self) -> None:
        """Release the temporary file."""
        self.file.close()


class ObjectFetcher:
    """Reads objects from one S3 endpoint with one long-lived aioboto3 client."""

    def __init__(
        self,
        endpoint_url: str | None,
        access_key: str | None,
        secret_key: str | None,
        region: str,
    ) -> None:
        self._endpoint_url = endpoint_url or constants.STORAGE_URL
        self._access_key = access_key
        self._secret_key = secret_key
        self._region = region
        self._stack = AsyncExitStack()
        self._client: Any = None

    async def start(self) -> None:
        """Open the S3 client."""
        import aioboto3
        from botocore import UNSIGNED
        from botocore.config import Config

        session = aioboto3.Session()
        # Without credentials, read anonymously rather than search the machine for some.
        signed = self._access_key is not None and self._secret_key is not None
        config = Config(
            signature_version=None if signed else UNSIGNED,
            s3={"addressing_style": "path"},
            retries={"max_attempts": 2, "mode": "standard"},
        )
        self._client = await self._stack.enter_async_context(
            session.client(
                "s3",
                endpoint_url=self._endpoint_url,
                region_name=self._region,
                aws_access_key_id=self._access_key if signed else None,
                aws_secret_access_key=self._secret_key if signed else None,
                config=config,
            )
        )

    async def close(self) -> None:
        """Close the S3 client."""
        await self._stack.aclose()
        self._client = None

    async def fetch(self, ref: ObjectRef) -> FetchedObject:
        """The object's bytes; raises FetchError when it is missing or unreadable."""
        from botocore.exceptions import BotoCoreError, ClientError

        if self._client is None:
            raise RuntimeError("ObjectFetcher.start() was not awaited")
        where = f"{constants.STORAGE_URL}/{ref.bucket}/{ref.key}"
        spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115
        digest = hashlib.sha256()
        size = 0
        try:
            answer = await self._client.get_object(Bucket=ref.bucket, Key=ref.key)
            body = answer["Body"]
            try:
                async for chunk in body.iter_chunks(_READ_BYTES):
                    spool.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
            finally:
                body.close()
        except ClientError as exc:
            spool.close()
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if error.get("Code") in ("NoSuchKey", "NoSuchBucket", "404") or status == 404:
                raise FetchError(
                    constants.GRPC_NOT_FOUND, f"audio object not found: {where}"
                ) from exc
            if status == 403:
                raise FetchError(
                    constants.GRPC_PERMISSION_DENIED, f"no access to the audio object: {where}"
                ) from exc
            raise FetchError(
                constants.GRPC_INTERNAL,
                f"cannot read the audio object {where}: {error.get('Code')}",
            ) from exc
        except (BotoCoreError, OSError) as exc:
            spool.close()
            raise FetchError(
                constants.GRPC_INTERNAL,
                f"cannot read the audio object {where}: {type(exc).__name__}",
            ) from exc
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return FetchedObject(file=spool, size=size, sha256=digest.hexdigest())
