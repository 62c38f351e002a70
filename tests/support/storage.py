"""Put a file into the test's S3 server, as the daemon would, and link it for SpeechKit."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from orchestrator.core.constants import STORAGE_URL
from orchestrator.core.refs import ObjectRef
from orchestrator.intake.audio import read_range
from orchestrator.storage.s3 import S3Storage
from tests.support.emulator import S3ServerLike


async def upload_file(s3: S3ServerLike, bucket: str, path: Path, *, offset: int = 0) -> str:
    """Upload ``path`` (from ``offset`` on: 44 skips a plain WAV header) under a
    content-addressed key; the storage link SpeechKit is given."""
    data = (await asyncio.to_thread(path.read_bytes))[offset:]
    digest = hashlib.sha256(data).hexdigest()
    async with S3Storage(
        s3.endpoint_url, s3.region, bucket, s3.access_key, s3.secret_key, STORAGE_URL
    ) as storage:
        key = storage.object_key("audio", digest, path.suffix)
        await storage.ensure_uploaded(
            key, len(data), digest, lambda: read_range(path, offset, len(data))
        )
        return ObjectRef(bucket, key).link(STORAGE_URL)
