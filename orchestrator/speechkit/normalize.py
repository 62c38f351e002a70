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
    # Called twice for every word of every transcript, so the usual case comes first; the
    # range check ``0 <= x < inf`` refuses NaN as well.
    if isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text[:-1] if text.endswith("s") else text)
        except ValueError:
            return default
    elif isinstance(value, bool):
        return default
    elif isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:
            return default
    elif isinstance(value, Mapping):
        # The proto3 object form {"seconds": "1", "nanos": 500000000}, seen in some clients.
        try:
            seconds = float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9
        except (TypeError, ValueError, OverflowError):
            return default
    else:
        return default
    return seconds if 0.0 <= seconds < math.inf else default


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
    if not isinstance(raw, dict | Mapping):  # dict first: JSON objects are dicts
        return None
    text = raw.get("word")
    if not isinstance(text, str) or not text:
        return None
    start = parse_duration(raw.get("startTime"))
    end = parse_duration(raw.get("endTime"), start)
    # v2 documents confidence as unsupported (always 1 or 0): passing it on would mislead.
    return Word(text, start, end if end > start else start)


_new_word = tuple.__new__  # a Word made without the named tuple's Python-level __new__
_INF = math.inf


def _well_formed_words(raw_words: list[Any]) -> tuple[Word, ...] | None:
    """The words of a chunk when every one has the documented shape (a non-empty ``word``,
    ``startTime`` and ``endTime`` as "<seconds>s"), else None for ``_word``'s careful path
    to take each word as it is. The same words as ``_word`` gives, several times faster:
    a long call has thousands of them."""
    words: list[Word] = []
    append = words.append
    try:
        for raw in raw_words:
            text, start_s, end_s = raw["word"], raw["startTime"], raw["endTime"]
            if type(text) is not str or not text or start_s[-1] != "s" or end_s[-1] != "s":
                return None
            start, end = float(start_s[:-1]), float(end_s[:-1])
            if not (0.0 <= start < _INF and 0.0 <= end < _INF):
                return None
            append(_new_word(Word, (text, start, end if end > start else start, None, None)))
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    return tuple(words)


def _utterance(chunk: Any, previous_end: float) -> Utterance | None:
    if not isinstance(chunk, dict | Mapping):
        return None
    alternatives = chunk.get("alternatives")
    if not isinstance(alternatives, list) or not alternatives:
        return None
    best = alternatives[0]  # alternatives come best first
    if not isinstance(best, dict | Mapping):
        return None
    raw_words = best.get("words")
    words: tuple[Word, ...] = ()
    if isinstance(raw_words, list):
        fast = _well_formed_words(raw_words)
        if fast is None:
            found = [_word(r) for r in raw_words]
            fast = tuple(w for w in found if w is not None)
        words = fast
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
