"""Where a long recording can be cut without cutting a word: loudness per window, and the
cut points planned from it (a pure function)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import av

from orchestrator.media.errors import MediaError
from orchestrator.media.probe import audio_stream, failure, opened

# Loudness is measured on audio resampled to this rate: speech's energy lies below 4 kHz,
# and fewer samples make the pass cheap.
LEVEL_RATE_HZ = 8000
# What digital silence (RMS of zero, "-inf" dBFS) counts as, so every level is a number.
SILENCE_DB = -120.0
# The search for a cut looks back from the limit this share of a part, at most this long.
SEARCH_SHARE = 0.1
SEARCH_MAX_S = 60.0
# Windows this close to the quietest one count as equally quiet (a run of silence varies).
QUIET_MARGIN_DB = 1.0
# Slack on a time's count of windows: 18.2 / 0.1 is 181.99999999999997 in floating point,
# and the window that ends at the limit would be left out of the search.
WINDOWS_SLACK = 1e-9


def loudness(src: Path, window_s: float = 0.1) -> list[float]:
    """Per ``window_s`` of the whole file, the loudest channel's RMS level in dBFS (a cut must
    be quiet on every channel); MediaError when the file cannot be decoded."""
    try:
        with opened(src) as container:
            stream = audio_stream(src, container)
            return list(_levels(container, stream, max(1, round(window_s * LEVEL_RATE_HZ))))
    except MediaError:
        raise
    except Exception as exc:
        raise failure(src, exc) from None


def _levels(
    container: av.container.InputContainer, stream: av.AudioStream, window: int
) -> Iterator[float]:
    graph = av.filter.Graph()
    chain = [
        graph.add_abuffer(template=stream),
        graph.add("aresample", str(LEVEL_RATE_HZ)),
        graph.add("asetnsamples", f"n={window}:p=0"),
        # One RMS per channel per window: astats resets after each frame of `window` samples.
        graph.add("astats", "metadata=1:reset=1:measure_perchannel=RMS_level:measure_overall=none"),
        graph.add("abuffersink"),
    ]
    for left, right in itertools.pairwise(chain):
        left.link_to(right)
    graph.configure()
    for frame in itertools.chain(container.decode(stream), [None]):
        graph.push(frame)
        yield from _pulled(graph)


def _pulled(graph: av.filter.Graph) -> Iterator[float]:
    while True:
        try:
            frame = graph.pull()
        except (av.BlockingIOError, av.EOFError):
            return
        levels = [_db(value) for key, value in frame.metadata.items() if key.endswith("RMS_level")]
        yield max(levels, default=SILENCE_DB)


def _db(text: str) -> float:
    value = float(text)
    return value if math.isfinite(value) else SILENCE_DB


# How far over the limit a part may end by the sums' rounding alone.
PART_SLACK_S = 1e-9


def cut_points(
    levels: Sequence[float],
    window_s: float,
    duration_s: float,
    max_part_s: float,
    search_s: float | None = None,
) -> list[tuple[float, float]]:
    """Parts ``[(start, end), ...]`` covering ``[0, duration_s]``, each at most ``max_part_s``,
    each cut in the middle of the quietest run of windows within ``search_s`` before the limit."""
    if window_s <= 0 or max_part_s <= 0:
        raise ValueError("window_s and max_part_s must be positive")
    search = min(SEARCH_SHARE * max_part_s, SEARCH_MAX_S) if search_s is None else search_s
    search = min(max(search, 0.0), max_part_s)
    parts: list[tuple[float, float]] = []
    start = 0.0
    # A hair over the limit is floating-point noise of the sums (0.4 - 0.32 is
    # 0.08000000000000002): cutting there would leave an empty last part.
    while duration_s - start > max_part_s + PART_SLACK_S:
        end = _cut(levels, window_s, start, start + max_part_s, search)
        parts.append((start, end))
        start = end
    parts.append((start, max(duration_s, start)))
    return parts


def _cut(
    levels: Sequence[float], window_s: float, start: float, limit: float, search: float
) -> float:
    """The middle of the quietest run of whole windows in ``[limit - search, limit]``, or the
    limit itself when no window lies there or none is quieter than the rest."""
    first = max(math.ceil((limit - search) / window_s - WINDOWS_SLACK), 0)
    last = min(math.floor(limit / window_s + WINDOWS_SLACK), len(levels))  # [first, last) fit
    if last <= first:
        return limit
    quietest = min(levels[first:last])
    if max(levels[first:last]) <= quietest + QUIET_MARGIN_DB:
        return limit  # nowhere quieter than the rest: as well cut at the limit, fewer parts
    best = (0, first, first)  # (length, run start, run end)
    index = first
    while index < last:
        if levels[index] > quietest + QUIET_MARGIN_DB:
            index += 1
            continue
        run_start = index
        while index < last and levels[index] <= quietest + QUIET_MARGIN_DB:
            index += 1
        # The longest run wins; among equals the latest, for parts as long as allowed.
        best = max(best, (index - run_start, run_start, index))
    cut = (best[1] + best[2]) / 2 * window_s
    return cut if start < cut <= limit else limit
