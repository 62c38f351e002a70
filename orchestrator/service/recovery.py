"""What a run killed at the wrong moment leaves behind, put right at the next start.

Every write of ours is a temporary file renamed into place, and every move one rename, so
a kill leaves no half-written result; it may leave the temporary file itself, converted
audio nothing will send any more, and a manifest rejected by an older version could be in
``failed/`` without its report. Each kind is logged once, with a count, when there was any.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from orchestrator.config import Config
from orchestrator.intake.inbox import complete_rejections
from orchestrator.intake.roots import InputRoots
from orchestrator.outputs.files import remove_temp_files
from orchestrator.store.protocol import Store
from orchestrator.telemetry.logs import get_logger

log = get_logger()

# ``submit`` may be writing its temporary file in the inbox while the daemon starts: one
# this old was abandoned (a write of a few kilobytes takes milliseconds).
INBOX_TEMP_AGE_S = 600.0
LOG_PATHS = 20


def _sweep_temp_files(config: Config, now: float) -> list[str]:
    paths = config.paths
    removed = remove_temp_files(paths.output, recursive=True)
    removed += remove_temp_files(paths.failed, recursive=False)
    removed += remove_temp_files(paths.processed, recursive=False)
    removed += remove_temp_files(paths.inbox, recursive=False, older_than=now - INBOX_TEMP_AGE_S)
    return [str(path) for path in removed]


def _converted_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """The conversions a kill cut short (``.part``), and the whole ones, in ``folder``."""
    try:
        names = list(folder.iterdir())
    except FileNotFoundError:
        return [], []
    partial = [path for path in names if path.name.endswith(".part")]
    whole = [path for path in names if path.is_file() and path not in partial]
    return partial, whole


async def sweep_conversions(folder: Path, store: Store) -> list[str]:
    """Remove converted audio nothing waits for: conversions cut short, and whole ones no
    job still to be sent needs (its job failed, was cancelled, or follows another). One a
    job still needs is kept: the restart sends it without converting again."""
    partial, whole = await asyncio.to_thread(_converted_files, folder)
    gone = list(partial)
    for path in whole:
        content_hash = path.name.split(".", 1)[0]
        if not await store.content_in_use(content_hash):
            gone.append(path)
    for path in gone:
        await asyncio.to_thread(path.unlink, missing_ok=True)
    return [str(path) for path in gone]


async def sweep(config: Config, store: Store) -> None:
    """Remove our temporary files and complete half-done rejections (logged with counts).

    Runs once the store is held, so no other daemon of this state writes meanwhile.
    """
    removed = await asyncio.to_thread(_sweep_temp_files, config, time.time())
    removed += await sweep_conversions(config.paths.conversions, store)
    if removed:
        log.info(
            "recovery.temp_files_removed",
            count=len(removed),
            directories=sorted({path.rsplit("/", 1)[0] for path in removed})[:LOG_PATHS],
        )
    digests = [manifest.digest for manifest in await store.manifests()]
    completed = await asyncio.to_thread(
        complete_rejections, config.paths.failed, digests, InputRoots.of(config)
    )
    if completed:
        log.warning(
            "recovery.rejections_completed",
            count=len(completed),
            manifests=[str(path) for path in completed[:LOG_PATHS]],
        )
