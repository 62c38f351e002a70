"""The normalised transcript: one shape for every API (v2, v3, asr_xml)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Word:
    """One recognised word with its times in seconds from the start of the audio."""

    text: str
    start: float
    end: float
    confidence: float | None = None


@dataclass(frozen=True)
class Utterance:
    """One recognised phrase (a v2 chunk, a v3 final) on one channel."""

    channel: int
    text: str
    start: float
    end: float
    words: tuple[Word, ...] = ()


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
                    "words": [[w.text, w.start, w.end, w.confidence] for w in u.words],
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
            utterances=tuple(
                Utterance(
                    channel=int(u["channel"]),
                    text=str(u["text"]),
                    start=float(u["start"]),
                    end=float(u["end"]),
                    words=tuple(
                        Word(str(t), float(s), float(e), None if c is None else float(c))
                        for t, s, e, c in u["words"]
                    ),
                )
                for u in data["utterances"]
            ),
            raw=data.get("raw"),
        )
