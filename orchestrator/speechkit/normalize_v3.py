"""API v3 results -> the normalised Transcript (pure, robust to missing fields).

``getRecognition`` streams ``StreamingResponse`` objects (``stt.proto``). The ones that
carry text are ``final`` (an utterance as recognised, numbers spelt out) and, with text
normalisation on, ``finalRefinement`` (its normalised text), which names its final by
``finalIndex``. Finals are counted per ``channelTag``, and a final's own index is the
``audioCursors.finalIndex`` of the result that carries it: so a refinement is paired with
its final by (``channelTag``, ``finalIndex``). Every other event kind is ignored. int64
values (times, indexes) arrive as JSON strings.

Speaker labels: ``stt.proto`` has no speaker field on words or alternatives; the
documentation's "Speaker labeling" page (``en/speechkit/stt/speaker-labeling.md``) says the
results then carry ``channel_tag`` 0 or 1, one value per speaker, for mono audio only. So
when the job asked for labels on mono audio, the tag is the speaker and the audio's one
channel is channel 1; otherwise the tag is the audio channel, counted from "0" (v2 counts
from 1, and so does the normalised transcript).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from orchestrator.core.transcript import Transcript, Utterance, Word, speaker_label

from .normalize import parse_channel


def _ms(value: Any) -> float | None:
    """Seconds from an int64 of milliseconds (a JSON string, or a number)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            return None
    if isinstance(value, int | float) and value >= 0:
        return float(value) / 1000.0
    return None


def _best(update: Any) -> Mapping[str, Any] | None:
    """The first (best) alternative of an AlternativeUpdate."""
    if not isinstance(update, Mapping):
        return None
    alternatives = update.get("alternatives")
    if not isinstance(alternatives, list) or not alternatives:
        return None
    best = alternatives[0]
    return best if isinstance(best, Mapping) else None


def _words(alternative: Mapping[str, Any], speaker: str | None) -> tuple[Word, ...]:
    raw = alternative.get("words")
    words = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, Mapping):
            continue
        text = item.get("text")
        start = _ms(item.get("startTimeMs"))
        if not isinstance(text, str) or not text or start is None:
            continue
        end = _ms(item.get("endTimeMs"))
        words.append(
            Word(text, start, max(start, end if end is not None else start), None, speaker)
        )
    return tuple(words)


def _tag(result: Mapping[str, Any], update: Any) -> str:
    tag = result.get("channelTag")
    if not isinstance(tag, str) and isinstance(update, Mapping):
        tag = update.get("channelTag")  # AlternativeUpdate's deprecated copy
    return tag if isinstance(tag, str) and tag else "0"


def _index(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def results_of(lines: Iterable[Any]) -> list[Mapping[str, Any]]:
    """The StreamingResponse of each ``{"result": {...}}`` line (others are skipped)."""
    found = []
    for line in lines:
        result = line.get("result") if isinstance(line, Mapping) else None
        if isinstance(result, Mapping):
            found.append(result)
    return found


def normalize_v3(
    lines: Iterable[Any], *, speakers: bool = False, channels: int | None = None
) -> Transcript:
    """getRecognition's lines as a Transcript; ``speakers``: the channel tags are speaker
    labels (labeling was asked for, on mono audio). ``raw`` keeps every line."""
    kept = list(lines)
    results = results_of(kept)
    finals: list[tuple[str, int, Mapping[str, Any]]] = []
    refined: dict[tuple[str, int], Mapping[str, Any]] = {}
    counted: dict[str, int] = {}
    for result in results:
        if "final" in result:
            tag = _tag(result, result["final"])
            cursors = result.get("audioCursors")
            index = _index(cursors.get("finalIndex")) if isinstance(cursors, Mapping) else None
            # Without a cursor, finals are numbered in the order they come, per tag.
            index = index if index is not None else counted.get(tag, 0)
            counted[tag] = index + 1
            best = _best(result["final"])
            if best is not None:
                finals.append((tag, index, best))
        elif "finalRefinement" in result:
            refinement = result["finalRefinement"]
            if not isinstance(refinement, Mapping):
                continue
            index = _index(refinement.get("finalIndex"))
            best = _best(refinement.get("normalizedText"))
            if index is not None and best is not None:
                refined[(_tag(result, refinement.get("normalizedText")), index)] = best
    utterances = []
    for tag, index, final in finals:
        alternative = refined.get((tag, index), final)
        number = parse_channel(tag, 0)
        speaker = speaker_label(number) if speakers else None
        channel = 1 if speakers else number + 1
        utterance = _utterance(alternative, final, channel, speaker)
        if utterance is not None:
            utterances.append(utterance)
    utterances.sort(key=lambda u: (u.start, u.channel))
    found = {u.channel for u in utterances}
    if speakers:
        found.add(1)
    elif channels:
        found.update(range(1, channels + 1))
    return Transcript(channels=tuple(sorted(found)), utterances=tuple(utterances), raw=kept)


def _utterance(
    alternative: Mapping[str, Any], final: Mapping[str, Any], channel: int, speaker: str | None
) -> Utterance | None:
    words = _words(alternative, speaker) or _words(final, speaker)
    text = alternative.get("text")
    if not isinstance(text, str):
        text = " ".join(w.text for w in words)
    text = text.strip()
    if not text and not words:
        return None
    # The alternative's frame is the segment since the previous final, not the speech:
    # in the documentation's example it starts at "0" while its first word starts at 459 ms.
    # So the words give the times when there are any.
    start: float | None
    end: float | None
    if words:
        start, end = min(w.start for w in words), max(w.end for w in words)
    else:
        start = _ms(alternative.get("startTimeMs"))
        end = _ms(alternative.get("endTimeMs"))
    start = start or 0.0
    return Utterance(
        channel=channel,
        text=text,
        start=start,
        end=max(start, end or start),
        words=words,
        speaker=speaker,
    )
