"""What the daemon asks of a media worker, callable by name without FFmpeg in the daemon.

A worker call is sent as a function, pickled by its module and name: these functions live
in a module that imports no FFmpeg, and reach the modules that do only in the worker, which
loaded them when it started (``media.worker``). A daemon whose audio all goes as it is
never loads FFmpeg's libraries.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.media.convert import Converted
    from orchestrator.media.probe import MediaInfo
    from orchestrator.media.target import Target


def media_info(path: Path) -> MediaInfo:
    """``media.probe.media_info``, in the worker."""
    from orchestrator.media import probe

    return probe.media_info(path)


def convert(src: Path, dst: Path, target: Target, start_s: float, end_s: float | None) -> Converted:
    """``media.convert.convert``, in the worker."""
    from orchestrator.media import convert as converting

    return converting.convert(src, dst, target, start_s, end_s)


def cuts(
    src: Path, window_s: float, duration_s: float, max_part_s: float
) -> list[tuple[float, float]]:
    """The parts of a long recording (``media.quiet``: its loudness, then the cut points
    planned from it), in the worker."""
    from orchestrator.media import quiet

    levels = quiet.loudness(src, window_s)
    return quiet.cut_points(levels, window_s, duration_s, max_part_s)
