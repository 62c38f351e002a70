"""The one error type of the media layer, and its two worker failures."""

from __future__ import annotations

from pathlib import Path


class MediaError(Exception):
    """A file FFmpeg cannot read as audio, or a conversion that failed: one line, names the file."""

    def __init__(self, path: Path | str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = str(path)
        self.message = message

    def __reduce__(self) -> tuple[type[MediaError], tuple[str, str]]:
        # Crosses the worker's pipe as (path, message), so the class and text arrive intact.
        return (type(self), (self.path, self.message))


class MediaTimeout(MediaError):
    """A worker killed after its time bound."""


class MediaCrash(MediaError):
    """A worker process that died (a segfault, an exit) in the middle of a call."""
