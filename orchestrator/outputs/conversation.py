"""The conversation of a call rendered (pure): every channel's utterances (or, in mono
audio with speaker labels, every speaker's) in one file, in time order, one turn a line:

    [00:00:01] agent: Good morning, how can I help?
    [00:00:04] customer: I would like to ask about my bill.

A turn is what one voice says before another speaks: consecutive utterances of the same
channel and speaker are merged into one line, stamped with the time its first begins
(whole seconds, rounded down). Who speaks is the speaker label, else the channel's name
from the manifest, else ``Channel N``.
"""

from __future__ import annotations

from orchestrator.core.output_options import default_channel_label
from orchestrator.core.transcript import Transcript
from orchestrator.outputs.labels import Names, voice_of


def clock(seconds: float) -> str:
    """``hh:mm:ss`` of a time in seconds (rounded down; never negative)."""
    whole = max(0, int(seconds))
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def render_conversation(transcript: Transcript, names: Names | None = None) -> str:
    """The conversation, one turn a line; empty when nothing was recognised."""
    names = names or {}
    said = [u for u in transcript.utterances if u.text.strip()]
    # Stable: utterances starting together keep their channel order.
    said.sort(key=lambda u: (u.start, u.channel))
    turns: list[tuple[tuple[int, str], float, list[str]]] = []
    for utterance in said:
        who = voice_of(utterance, names) or default_channel_label(utterance.channel)
        key = (utterance.channel, who)
        text = " ".join(utterance.text.split())
        if turns and turns[-1][0] == key:
            turns[-1][2].append(text)
        else:
            turns.append((key, utterance.start, [text]))
    return "".join(
        f"[{clock(start)}] {who}: {' '.join(texts)}\n" for (_channel, who), start, texts in turns
    )
