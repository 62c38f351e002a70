"""The configured object storage: S3, whose endpoint SpeechKit (or the emulator) fetches
the audio from. ``LocalStorage`` is built directly by the tests and demos that want it:
no service could fetch audio from a local directory, so the config does not offer it."""

from __future__ import annotations

from orchestrator.config import Secret, StorageConfig
from orchestrator.storage.protocol import ObjectStorage
from orchestrator.storage.s3 import S3Storage


def _revealed(secret: Secret | None) -> str:
    return "" if secret is None else secret.reveal()


def open_object_storage(config: StorageConfig) -> ObjectStorage:
    """The object storage ``config`` names, to be entered with ``async with``."""
    return S3Storage(
        endpoint_url=config.endpoint_url,
        region=config.region,
        bucket=config.bucket,
        access_key_id=_revealed(config.access_key_id),
        secret_access_key=_revealed(config.secret_access_key),
        public_url_base=config.public_url_base,
        multipart_threshold=config.multipart_threshold_bytes,
        multipart_chunk=config.multipart_chunk_bytes,
    )
