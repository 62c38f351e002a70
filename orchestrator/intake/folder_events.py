"""Change notifications for the folders of standing manifests (inotify, through
asyncinotify): a file written and closed, moved in or created under a folder makes its
manifest's folders be walked at once, not at the next rescan.

They are a shortcut, never the only way: where they do not work (not Linux, a network
mount that sends none, more folders than ``MAX_WATCHES``), the bounded rescan finds the
same files, later. Links to directories are not followed (as the walks do not).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from orchestrator.telemetry.logs import get_logger

log = get_logger()

try:
    from asyncinotify import Event, Inotify, Mask, Watch
except (ImportError, OSError):  # not Linux: the rescan alone
    Inotify = None  # type: ignore[assignment,misc]

# Each watched folder holds a kernel watch (8 KiB of kernel memory at most each); a tree
# of more folders than this is left to the rescan beyond them.
MAX_WATCHES = 10_000


class FolderEvents:
    """Watches the folders of each standing manifest; ``on_change(manifest_id)`` is called
    when something may have come in under them."""

    def __init__(self, on_change: Callable[[int], None]) -> None:
        self.on_change = on_change
        self._inotify: Inotify | None = None
        if Inotify is not None:
            try:
                self._inotify = Inotify()
            except OSError as exc:  # the limit of inotify instances, say
                log.warning("manifest.watch_notifications_off", error=str(exc))
        self._owners: dict[int, set[int]] = {}  # watch descriptor -> manifest ids
        self._watches: dict[int, Watch] = {}
        self._limit_said = False

    @property
    def available(self) -> bool:
        """Whether notifications work here at all."""
        return self._inotify is not None

    def watch(self, manifest_id: int, folders: Iterable[Path]) -> None:
        """Watch ``folders`` and every folder below them for ``manifest_id``."""
        for folder in folders:
            self._add_tree(manifest_id, folder)

    def forget(self, manifest_id: int) -> None:
        """Stop watching for a manifest that was closed or has finished."""
        for wd, owners in list(self._owners.items()):
            owners.discard(manifest_id)
            if not owners:
                del self._owners[wd]
                watch = self._watches.pop(wd)
                if self._inotify is not None:
                    with contextlib.suppress(OSError, KeyError, ValueError):
                        self._inotify.rm_watch(watch)

    def _add_tree(self, manifest_id: int, top: Path) -> None:
        """Watch ``top`` and the folders below it (links not followed), up to the limit."""
        pending = [top]
        while pending and self._inotify is not None:
            folder = pending.pop()
            if not self._add(manifest_id, folder):
                return
            with contextlib.suppress(OSError), os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False) and not entry.name.startswith("."):
                        pending.append(Path(entry.path))

    def _add(self, manifest_id: int, folder: Path) -> bool:
        """Watch one folder; False when no more can be watched."""
        assert self._inotify is not None
        if len(self._watches) >= MAX_WATCHES:
            if not self._limit_said:
                log.warning("manifest.watch_limit", watches=MAX_WATCHES, folder=str(folder))
                self._limit_said = True
            return False
        mask = Mask.CLOSE_WRITE | Mask.MOVED_TO | Mask.CREATE | Mask.ONLYDIR | Mask.DONT_FOLLOW
        try:
            watch = self._inotify.add_watch(folder, mask)
        except OSError:
            return True  # gone, or not a folder: the rescan says what it finds
        self._watches[watch.wd] = watch
        self._owners.setdefault(watch.wd, set()).add(manifest_id)
        return True

    async def run(self) -> None:
        """Pass on the events until cancelled (nothing at all where none come)."""
        if self._inotify is None:
            await asyncio.Event().wait()
            return
        async for event in self._inotify:
            self._heard(event)

    def _heard(self, event: Event) -> None:
        watch = event.watch
        owners = set() if watch is None else self._owners.get(watch.wd, set())
        if Mask.ISDIR in event.mask and event.path is not None:
            for manifest_id in owners:
                self._add_tree(manifest_id, event.path)  # a new folder below: watched too
        for manifest_id in owners:
            self.on_change(manifest_id)

    def close(self) -> None:
        """Release the notifications' descriptor."""
        if self._inotify is not None:
            self._inotify.close()
            self._inotify = None
