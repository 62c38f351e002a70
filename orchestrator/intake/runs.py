"""Runs of one manifest: a manifest naming folders or globs, submitted again, is taken as a
new run of itself holding only the files no earlier run took (new ones, and changed ones);
``submit --again`` asks for every file.

A file is known by its path, its stamp (size and modification time, as rsync and make
judge a file unchanged) and the settings it was recognised with: a file rewritten in
place has a new stamp, and is new. Content recognised before under another path is new
here too, but costs nothing: the result cache answers it (same audio, same settings).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from orchestrator.core.refs import is_object_uri
from orchestrator.core.settings import RecognitionSettings
from orchestrator.intake.jobspec import JobSpec
from orchestrator.store.types import NewJob

AGAIN_SUFFIX = ".again"


def again_marker(placed: Path) -> Path:
    """The hidden file beside a manifest in the inbox that asks for every file again."""
    return placed.with_name(f".{placed.name}{AGAIN_SUFFIX}")


def asks_again(placed: Path) -> bool:
    """Whether ``submit --again`` placed the manifest (a name too long for a marker
    beside it was never given one)."""
    try:
        return again_marker(placed).exists()
    except OSError:
        return False


def forget_again(placed: Path) -> None:
    """Remove the manifest's ``--again`` marker, once it has been obeyed."""
    with contextlib.suppress(OSError):
        again_marker(placed).unlink(missing_ok=True)


def stamp_of(source: str) -> str | None:
    """A local file's ``size:mtime_ns`` now; None for an object or a file gone."""
    if is_object_uri(source):
        return None
    try:
        info = os.stat(source)
    except OSError:
        return None
    return f"{info.st_size}:{info.st_mtime_ns}"


class NewFiles:
    """The jobs of a run, less the files earlier runs took (``taken``: their source,
    stamp and settings key); counts what it left out. With ``stamped`` False, jobs carry
    no stamp and nothing is left out (a manifest of single files, as before)."""

    def __init__(
        self,
        taken: set[tuple[str, str, str]],
        stamped: bool = True,
        settled_before: float | None = None,
    ) -> None:
        self.taken = taken
        self.stamped = stamped
        # A standing manifest's first take leaves out files changed since then: they may
        # still be being written (the watch takes them once they have settled).
        self.settled_before = settled_before
        self.left_out = 0  # files an earlier run took, unchanged
        self.unsettled = 0  # files left to the watch
        self._keys: dict[RecognitionSettings, str] = {}

    def _key(self, settings: RecognitionSettings) -> str:
        key = self._keys.get(settings)
        if key is None:
            key = self._keys[settings] = settings.key()
        return key

    def known(self, source: str, stamp: str | None, settings: RecognitionSettings) -> bool:
        """Whether an earlier run took this file, unchanged, with these settings."""
        if stamp is None or not self.taken:
            return False
        return (source, stamp, self._key(settings)) in self.taken

    def known_now(self, source: str, settings: RecognitionSettings) -> bool:
        """:meth:`known`, with the file's stamp as it is now."""
        return self.known(source, stamp_of(source), settings)

    def note(self, source: str, stamp: str | None, settings: RecognitionSettings) -> None:
        """Remember a file just taken."""
        if stamp is not None:
            self.taken.add((source, stamp, self._key(settings)))

    def _fresh(self, stamp: str | None) -> bool:
        """Whether the file of ``stamp`` changed after ``settled_before``."""
        if stamp is None or self.settled_before is None:
            return False
        return int(stamp.partition(":")[2]) > self.settled_before * 1e9

    def jobs(self, specs: Iterable[JobSpec]) -> Iterator[NewJob]:
        """The store's rows for the specs not taken before, one by one as they come."""
        for spec in specs:
            stamp = stamp_of(spec.source) if self.stamped else None
            if self.known(spec.source, stamp, spec.settings):
                self.left_out += 1
                continue
            if self._fresh(stamp):
                self.unsettled += 1
                continue
            yield NewJob(spec.source, spec.output, spec.settings, spec.options, stamp)
