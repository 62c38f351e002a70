"""The files a glob or a directory entry names, each with its path relative to the
manifest's ``base_dir`` (from which its output path is made); the walks themselves are
bounded by ``intake.globbing``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from orchestrator.core.settings import RecognitionSettings
from orchestrator.intake.globbing import directory_files, glob_files
from orchestrator.intake.jobspec import relative_to

# What a directory entry picks up when it has no `include:`; raw LPCM only when declared.
AUDIO_PATTERNS = ("*.ogg", "*.opus", "*.mp3", "*.wav")
RAW_PATTERNS = ("*.pcm", "*.raw")


def default_patterns(settings: RecognitionSettings) -> tuple[str, ...]:
    """Supported extensions; raw LPCM ones only when the encoding is declared."""
    if settings.encoding == "LINEAR16_PCM":
        return AUDIO_PATTERNS + RAW_PATTERNS
    return AUDIO_PATTERNS


def glob_matches(pattern: str, base_dir: Path) -> list[tuple[Path, str]]:
    """Files matching a glob (``**`` recursive), each with its output-relative path."""
    root, files = glob_files(pattern, base_dir)
    found = []
    for match in files:
        file = Path(os.path.normpath(match.absolute()))
        rel = relative_to(file, base_dir) or relative_to(file, root) or file.name
        found.append((file, rel))
    return found


def directory_matches(
    directory: Path, patterns: Sequence[str], base_dir: Path
) -> list[tuple[Path, str]]:
    """Files under ``directory`` (recursive, hidden ones skipped) matching ``patterns``."""
    directory = Path(os.path.normpath(directory.absolute()))
    found = [
        (file, relative_to(file, base_dir) or inner)
        for file, inner in directory_files(directory, patterns)
    ]
    return sorted(found, key=lambda item: item[1])
