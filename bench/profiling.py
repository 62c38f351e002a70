"""Where the daemon's CPU went: a short summary of a cProfile file (``--profile``)."""

from __future__ import annotations

import io
import pstats
from pathlib import Path

PROFILE_ENV = "BENCH_PROFILE_DAEMON"  # set in the children's environment by --profile


def profile_summary(path: Path, top: int = 25) -> str:
    """The functions that took the most CPU, by their own time and with their callees."""
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.strip_dirs()
    out.write(f"bench: daemon profile {path}\n")
    stats.sort_stats(pstats.SortKey.TIME).print_stats(top)
    stats.sort_stats(pstats.SortKey.CUMULATIVE).print_stats(top)
    return out.getvalue()
