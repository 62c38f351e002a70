"""API responses -> the normalised Transcript. Pure functions, robust to missing fields."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from orchestrator.core.transcript import Transcript, Utterance, Word

# v2 numbers channels from 1 ("channelTag": "1"); a chunk without a tag is the first channel.
_DEFAULT_CHANNEL = 1


def parse_duration(value: Any, default: float = 0.0) -> float:
    """Seconds from a protobuf JSON duration ("0.879999999s"), a number, or a Duration object."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith("s"):
            text = text[:-1]
        try:
            seconds = float(text)
        except ValueError:
            return default
    elif isinstance(value, Mapping):
        # The proto3 object form {"seconds": "1", "nanos": 500000000}, seen in some clients.
        try:
            seconds = float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9
        except (TypeError, ValueError):
            return default
    else:
        return default
    return seconds if math.isfinite(seconds) and seconds >= 0 else default


def parse_channel(value: Any, default: int = _DEFAULT_CHANNEL) -> int:
    """A channel number from a channelTag (a string in JSON, as int64 values are)."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return default
    return default


def _word(raw: Any) -> Word | None:
    if not isinstance(raw, Mapping):
        return None
    text = raw.get("word")
    if not isinstance(text, str) or not text:
        return None
    start = parse_duration(raw.get("startTime"))
    end = max(start, parse_duration(raw.get("endTime"), start))
    # v2 documents confidence as unsupported (always 1 or 0): passing it on would mislead.
    return Word(text=text, start=start, end=end, confidence=None)


def _utterance(chunk: Any, previous_end: float) -> Utterance | None:
    if not isinstance(chunk, Mapping):
        return None
    alternatives = chunk.get("alternatives")
    if not isinstance(alternatives, list) or not alternatives:
        return None
    best = alternatives[0]  # alternatives come best first
    if not isinstance(best, Mapping):
        return None
    raw_words = best.get("words")
    words = tuple(
        w for w in (_word(r) for r in (raw_words if isinstance(raw_words, list) else [])) if w
    )
    text = best.get("text")
    if not isinstance(text, str):
        text = " ".join(w.text for w in words)
    text = text.strip()
    if not text and not words:
        return None
    if words:
        start = min(w.start for w in words)
        end = max(w.end for w in words)
    else:
        # No word times: keep the chunk where the service put it, after its predecessor.
        start = end = previous_end
    return Utterance(
        channel=parse_channel(chunk.get("channelTag")),
        text=text,
        start=start,
        end=end,
        words=words,
    )


def normalize_v2(response: Mapping[str, Any] | None, channels: int | None = None) -> Transcript:
    """A v2 LongRunningRecognitionResponse as a Transcript.

    ``chunks`` may be absent (nothing recognised: an empty transcript). Utterances are
    sorted by (start, channel); ``channels`` (the audio's channel count, if known) makes
    silent channels appear in ``Transcript.channels`` too. ``raw`` keeps the response.
    """
    raw_chunks = response.get("chunks") if isinstance(response, Mapping) else None
    chunks = raw_chunks if isinstance(raw_chunks, list) else []
    utterances: list[Utterance] = []
    last_end: dict[int, float] = {}
    for chunk in chunks:
        channel = parse_channel(chunk.get("channelTag")) if isinstance(chunk, Mapping) else 1
        utterance = _utterance(chunk, last_end.get(channel, 0.0))
        if utterance is None:
            continue
        utterances.append(utterance)
        last_end[utterance.channel] = max(last_end.get(utterance.channel, 0.0), utterance.end)
    # sorted() is stable: chunks that start together keep the service's order.
    utterances.sort(key=lambda u: (u.start, u.channel))
    found = {u.channel for u in utterances}
    if channels:
        found.update(range(1, channels + 1))
    return Transcript(
        channels=tuple(sorted(found)),
        utterances=tuple(utterances),
        raw=dict(response) if isinstance(response, Mapping) else response,
    )
