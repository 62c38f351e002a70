"""The normalised transcript: one shape for every API (v2, v3, asr_xml)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple


def speaker_label(index: int) -> str:
    """How the outputs name the speaker an API numbers ``index`` (from 0): "Speaker 1".

    The one place the label is chosen; outputs write it as it is (a cue prefix, a WebVTT
    voice, a line of text), so any other plain string would do as well.
    """
    return f"Speaker {index + 1}"


class Word(NamedTuple):
    """One recognised word with its times in seconds from the start of the audio.

    A named tuple rather than a frozen dataclass: a long call has thousands of words, and
    a tuple is made three times faster (immutable all the same)."""

    text: str
    start: float
    end: float
    confidence: float | None = None
    speaker: str | None = None  # the label of who said it, when the API tells


@dataclass(frozen=True)
class Utterance:
    """One recognised phrase (a v2 chunk, a v3 final) on one channel, by one speaker when
    the API labels speakers."""

    channel: int
    text: str
    start: float
    end: float
    words: tuple[Word, ...] = ()
    speaker: str | None = None


@dataclass(frozen=True)
class Transcript:
    """Everything recognised in one audio file, utterances in time order per channel.

    ``raw`` keeps the service's own response so that nothing it said is lost.
    """

    channels: tuple[int, ...]
    utterances: tuple[Utterance, ...]
    raw: Any = field(default=None, compare=False)

    def channel_text(self, channel: int) -> str:
        """The text of one channel, utterances joined by newlines."""
        return "\n".join(u.text for u in self.utterances if u.channel == channel and u.text)

    @property
    def empty(self) -> bool:
        """Nothing was recognised: no utterance has any text."""
        return not any(u.text for u in self.utterances)

    @property
    def speakers(self) -> tuple[str, ...]:
        """The speaker labels, in order of first appearance (none without labeling)."""
        return tuple(dict.fromkeys(u.speaker for u in self.utterances if u.speaker))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, for the result cache (``from_dict`` reads it back)."""
        return {
            "channels": list(self.channels),
            "utterances": [
                {
                    "channel": u.channel,
                    "text": u.text,
                    "start": u.start,
                    "end": u.end,
                    "words": [w[:4] for w in u.words],  # text, start, end, confidence
                    **({"speaker": u.speaker} if u.speaker is not None else {}),
                }
                for u in self.utterances
            ],
            "raw": self.raw,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Transcript:
        """Inverse of ``to_dict``; KeyError/TypeError/ValueError for anything else."""
        return cls(
            channels=tuple(int(c) for c in data["channels"]),
            utterances=tuple(_utterance_from_dict(u) for u in data["utterances"]),
            raw=data.get("raw"),
        )


def _utterance_from_dict(data: Mapping[str, Any]) -> Utterance:
    # The speaker is kept once per utterance; its words take it back.
    speaker = data.get("speaker")
    if speaker is not None:
        speaker = str(speaker)
    return Utterance(
        channel=int(data["channel"]),
        text=str(data["text"]),
        start=float(data["start"]),
        end=float(data["end"]),
        words=tuple(
            Word(str(t), float(s), float(e), None if c is None else float(c), speaker)
            for t, s, e, c in data["words"]
        ),
        speaker=speaker,
    )
