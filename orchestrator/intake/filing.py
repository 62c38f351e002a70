"""Where a taken manifest's file lives: under ``.active/`` while its jobs run, then filed
away, once, to ``processed/`` or ``failed/`` by how they ended. Intake files a copy of a
manifest that finished already; the finisher files a manifest as it finishes."""

from __future__ import annotations

import asyncio
import glob
import hashlib
import os
from pathlib import Path

from orchestrator.core.jobs import ManifestStatus
from orchestrator.outputs.files import fit_name, unique_destination

ACTIVE_DIR = ".active"
DIGEST_CHARS = 12


def active_path(active_dir: Path, digest: str, name: str) -> Path:
    """Where an accepted manifest waits while its jobs run: its name behind the start of
    its digest, so two files of the same name never meet there."""
    return active_dir / f"{digest[:DIGEST_CHARS]}-{fit_name(name, DIGEST_CHARS + 1)}"


def filed_folder(manifest: ManifestStatus, processed: Path, failed: Path) -> Path:
    """Where a finished manifest is filed: ``failed/`` when a job failed (cancelled ones
    alone file it in ``processed/``)."""
    return failed if manifest.any_failed else processed


def file_away(source: Path, folder: Path, digest: str) -> Path:
    """Move a finished manifest from the active folder to ``folder`` (once); its new path.

    A run that stopped after the move but before the store recorded it finds the file
    again by its content.
    """
    name = source.name.removeprefix(f"{digest[:DIGEST_CHARS]}-")
    if source.exists():
        folder.mkdir(parents=True, exist_ok=True)
        target = unique_destination(folder, name)
        os.replace(source, target)
        return target
    stem, suffix = os.path.splitext(name)
    for candidate in sorted(folder.glob(f"{glob.escape(stem)}*{glob.escape(suffix)}")):
        if hashlib.sha256(candidate.read_bytes()).hexdigest() == digest:
            return candidate
    return source


async def file_finished(
    manifest: ManifestStatus, processed: Path, failed: Path, source: Path | None = None
) -> Path:
    """File a finished manifest's file (``source``, else where the store has it) where
    its jobs' ends send it; its new path."""
    folder = filed_folder(manifest, processed, failed)
    path = source if source is not None else Path(manifest.path)
    return await asyncio.to_thread(file_away, path, folder, manifest.digest)
