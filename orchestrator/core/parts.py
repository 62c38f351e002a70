"""A long recording cut into parts: each part's place in the whole, the bytes of a part of
an LPCM file, and the parts' transcripts stitched back into one (pure: no I/O, no clock)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.core.audio import AudioFacts
from orchestrator.core.transcript import Transcript, Utterance, Word

# LINEAR16_PCM: two bytes a sample, one sample a channel in each frame.
_SAMPLE_BYTES = 2


@dataclass(frozen=True)
class Part:
    """One part of a split job: the ``index``-th (from 0) of ``count``, the audio from
    ``start_s`` to ``end_s`` seconds of the whole recording."""

    index: int
    count: int
    start_s: float
    end_s: float

    def to_json(self) -> str:
        """Compact JSON for the store."""
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Part:
        """Inverse of ``to_json``."""
        data: dict[str, Any] = json.loads(text)
        return cls(
            index=int(data["index"]),
            count=int(data["count"]),
            start_s=float(data["start_s"]),
            end_s=float(data["end_s"]),
        )

    @property
    def label(self) -> str:
        """How messages name the part: "part 2 of 3"."""
        return f"part {self.index + 1} of {self.count}"


def part_facts(facts: AudioFacts, part: Part) -> AudioFacts | None:
    """The facts of one part of an LPCM recording: the byte range of its whole sample
    frames within the file's data, its own duration; None for any other encoding (those
    parts are converted from the decoded audio instead)."""
    if facts.encoding != "LINEAR16_PCM" or facts.container not in ("wav", "raw"):
        return None
    if facts.sample_rate <= 0 or facts.channels <= 0:
        return None
    frame = facts.channels * _SAMPLE_BYTES
    frames = facts.data_length // frame
    first = min(frames, max(0, round(part.start_s * facts.sample_rate)))
    last = min(frames, max(first, round(part.end_s * facts.sample_rate)))
    length = (last - first) * frame
    return dataclasses.replace(
        facts,
        duration_s=(last - first) / facts.sample_rate,
        data_offset=facts.data_offset + first * frame,
        data_length=length,
        size_bytes=length,
    )


def stitch(parts: Sequence[tuple[Part, Transcript]]) -> Transcript:
    """One transcript as if the whole recording had been recognised at once: each part's
    utterances and words moved by the part's start, the parts in order, the channels of
    all of them. ``raw`` keeps every part's own response (``{"parts": [...]}``).

    Speaker labels are kept as each part has them: the service labels each part on its
    own, so "Speaker 1" of one part need not be the same person as in the next.
    """
    ordered = sorted(parts, key=lambda pair: pair[0].index)
    utterances: list[Utterance] = []
    channels: set[int] = set()
    for part, transcript in ordered:
        channels.update(transcript.channels)
        utterances.extend(_shifted(u, part.start_s) for u in transcript.utterances)
    return Transcript(
        channels=tuple(sorted(channels)),
        utterances=tuple(utterances),
        raw={"parts": [transcript.raw for _, transcript in ordered]},
    )


def _shifted(utterance: Utterance, offset: float) -> Utterance:
    """An utterance (and its words) ``offset`` seconds later."""
    if not offset:
        return utterance
    words = tuple(
        Word(w.text, w.start + offset, w.end + offset, w.confidence, w.speaker)
        for w in utterance.words
    )
    return dataclasses.replace(
        utterance, start=utterance.start + offset, end=utterance.end + offset, words=words
    )
