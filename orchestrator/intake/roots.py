"""Where audio may come from: local files under one of the input roots, never the daemon's
own files; objects in the configured buckets only; and the highest priority allowed.

Whoever can drop a manifest in the inbox chooses the paths the daemon reads, with the
daemon's rights. ``paths.input_roots`` bounds that: a file is compared by its real path
(every symlink resolved), so a link inside a root that points outside it is refused too.
The daemon's own files (its state and lock file, inbox, results, config, secret files and
systemd credentials directory) are refused even inside a root: raw PCM takes any bytes, so
any file could otherwise pass for audio.

An ``s3://`` object is read with the service account's rights, which may reach buckets
of other tenants: only ``storage.bucket`` and ``storage.source_buckets`` (a bucket, or a
bucket and a key prefix) are taken.

The check is made when a manifest is read (``validate --config``, ``submit``, intake) and
again right before the upload reads the file; a symlink swapped between that last check
and the open is the one case it cannot see.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from orchestrator.config import Config
from orchestrator.core.refs import ObjectRef
from orchestrator.core.settings import MAX_PRIORITY

# SQLite keeps a journal beside the state file under these suffixes; ".lock" is the
# daemon's own lock file.
_STATE_SUFFIXES = ("", "-wal", "-shm", "-journal", ".lock")


def _inside(folder: Path) -> str:
    """The start of every path at or inside ``folder``, ``/srv/audio/``; ``path + "/"``
    starts with it exactly when ``path`` is ``folder`` or inside it."""
    text = str(folder)
    return text if text.endswith("/") else text + "/"


def real_path(path: Path) -> Path:
    """``path`` with every symlink resolved (a missing part is kept as it is)."""
    return Path(os.path.realpath(path))


@dataclass(frozen=True)
class InputRoots:
    """The directories audio may come from and the paths never read as audio (both real);
    the buckets (``bucket`` or ``bucket/prefix``) objects may come from (empty: any); the
    highest priority a manifest may ask for."""

    roots: tuple[Path, ...]
    denied: tuple[Path, ...] = ()
    buckets: tuple[str, ...] = ()
    max_priority: int = MAX_PRIORITY

    @classmethod
    def of(cls, config: Config) -> InputRoots:
        """The config's ``paths.input_roots``, and its own files and directories denied."""
        paths = config.paths
        denied = [Path(f"{paths.state_file}{suffix}") for suffix in _STATE_SUFFIXES]
        denied += [paths.inbox, paths.processed, paths.failed, paths.output]
        denied += list(config.secret_files)
        if config.source and not config.source.startswith("<"):
            denied.append(Path(config.source))
        return cls(
            roots=tuple(real_path(root) for root in paths.input_roots),
            denied=tuple(real_path(path) for path in denied),
            buckets=(config.storage.bucket, *config.storage.source_buckets),
            max_priority=config.intake.max_priority,
        )

    def object_refusal(self, ref: ObjectRef) -> str | None:
        """Why the object ``ref`` may not be read as audio (a message naming it), or None."""
        if not self.buckets:
            return None
        for allowed in self.buckets:
            bucket, _, prefix = allowed.partition("/")
            if ref.bucket == bucket and (
                not prefix or ref.key.startswith(prefix.rstrip("/") + "/")
            ):
                return None
        listed = ", ".join(self.buckets)
        return (
            f"{ref}: not in the buckets audio may come from ({listed}); add it to "
            "storage.source_buckets in the daemon's config"
        )

    @cached_property
    def _prefixes(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The roots and the denied paths as the starts of the real paths inside them:
        a directory walk checks every file, so the check is made on strings."""
        return tuple(map(_inside, self.roots)), tuple(map(_inside, self.denied))

    def refusal(self, path: Path | str, real: str | None = None) -> str | None:
        """Why ``path`` may not be read as audio (a message naming it), or None.

        ``real``: its real path, when the caller knows it already (a file met in a walk
        that follows no link); else every symlink in ``path`` is resolved here."""
        if real is None:
            try:
                real = os.path.realpath(path)
            except (OSError, ValueError):
                return f"{path}: not a path that can be checked against the input roots"
        roots, denied = self._prefixes
        shown = str(path) if real == os.path.normpath(path) else f"{path} (-> {real})"
        inside = real + "/"
        if roots and not inside.startswith(roots):
            listed = ", ".join(str(root) for root in self.roots)
            return (
                f"{shown}: outside the input roots ({listed}); add its directory to "
                "paths.input_roots in the daemon's config"
            )
        if inside.startswith(denied):
            return f"{shown}: one of the daemon's own files (state, inbox, results, secrets)"
        return None

    def may_hold(self, directory: Path) -> bool:
        """Whether files under ``directory`` could be inside a root (a directory above a
        root may be walked; one beside every root need not be)."""
        real = real_path(directory)
        return not self.roots or any(
            real.is_relative_to(root) or root.is_relative_to(real) for root in self.roots
        )
