"""The state store: every fact about manifests, jobs and quotas lives here, not in memory."""

from __future__ import annotations

from orchestrator.store.base import (
    DuplicateRecognition,
    JobUpdate,
    ManifestConflict,
    NewJob,
    Store,
    StoreError,
)
from orchestrator.store.sqlite import SQLiteStore, StoreLocked

__all__ = [
    "DuplicateRecognition",
    "JobUpdate",
    "ManifestConflict",
    "NewJob",
    "SQLiteStore",
    "Store",
    "StoreError",
    "StoreLocked",
]
