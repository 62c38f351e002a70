"""The state store: every fact about manifests, jobs and quotas lives here, not in memory.

Reach it through ``Store`` (``store.protocol``) and ``open_store(config)``
(``store.factory``); nothing outside this folder knows which database it is. Inside, the
logic is written once (``store.manager``, the claim in ``store.claims``) over a thin
connector per database (``store.connector``: ``sqlite/``, ``postgres/``).
"""

from __future__ import annotations

from orchestrator.store.factory import open_store
from orchestrator.store.protocol import Store
from orchestrator.store.types import (
    Affinity,
    Claim,
    Claimed,
    DuplicateRecognition,
    JobUpdate,
    ManifestConflict,
    NewJob,
    Spend,
    StoreError,
    StoreLocked,
)

__all__ = [
    "Affinity",
    "Claim",
    "Claimed",
    "DuplicateRecognition",
    "JobUpdate",
    "ManifestConflict",
    "NewJob",
    "Spend",
    "Store",
    "StoreError",
    "StoreLocked",
    "open_store",
]
