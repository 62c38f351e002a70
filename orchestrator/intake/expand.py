"""The files a glob or a directory entry names, as they are found, each with its path
relative to the manifest's ``base_dir`` (from which its output path is made) and, when
the walk knows it without asking the filesystem again, its real path; the walks
themselves are bounded by ``intake.globbing``."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from orchestrator.core.settings import RecognitionSettings
from orchestrator.intake.globbing import directory_files, glob_files

# What a directory entry picks up when it has no `include:`; raw LPCM only when declared.
AUDIO_PATTERNS = ("*.ogg", "*.opus", "*.mp3", "*.wav")
RAW_PATTERNS = ("*.pcm", "*.raw")


class Matched(NamedTuple):
    """A file an entry names: its normalised absolute path, its path relative to
    ``base_dir`` (else to where the walk started), and its real path when the walk knows
    it (None for a link: it must be resolved)."""

    path: str
    rel: str
    real: str | None


def default_patterns(settings: RecognitionSettings) -> tuple[str, ...]:
    """Supported extensions; raw LPCM ones only when the encoding is declared."""
    if settings.encoding == "LINEAR16_PCM":
        return AUDIO_PATTERNS + RAW_PATTERNS
    return AUDIO_PATTERNS


def _prefix(folder: Path | str) -> str:
    """The start every path inside ``folder`` has (``/srv`` -> ``/srv/``)."""
    text = str(folder)
    return text if text.endswith("/") else text + "/"


def glob_matches(pattern: str, base_dir: Path) -> Iterator[Matched]:
    """Files matching a glob (``**`` recursive), in the order of their paths' parts."""
    root, found = glob_files(pattern, base_dir)
    base, walked, real_root = _prefix(base_dir), _prefix(root), _prefix(os.path.realpath(root))
    for file in found:
        path = file.path
        if path.startswith(base):
            rel = path[len(base) :]
        elif path.startswith(walked):
            rel = path[len(walked) :]
        else:
            rel = os.path.basename(path)
        yield Matched(path, rel, None if file.link else real_root + file.inner)


def directory_matches(
    directory: Path, patterns: Sequence[str], base_dir: Path
) -> Iterator[Matched]:
    """Files under ``directory`` (recursive, hidden ones skipped) matching ``patterns``,
    in the order of their relative paths."""
    directory = Path(os.path.normpath(directory.absolute()))
    base, real_root = _prefix(base_dir), _prefix(os.path.realpath(directory))
    for file in directory_files(directory, patterns):
        path = file.path
        rel = path[len(base) :] if path.startswith(base) else file.inner
        yield Matched(path, rel, None if file.link else real_root + file.inner)
