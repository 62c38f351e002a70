"""Subtitles rendered (pure: a transcript in, a string out): SubRip and WebVTT cues of at
most two lines and a few seconds, in time order across channels, each saying who speaks
(a speaker label, or the name the manifest gives the channel). A cue shows the utterance's
text, as the .txt does, at its words' times (``outputs.cues``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.core.transcript import Transcript, Utterance
from orchestrator.outputs.cues import timed_tokens
from orchestrator.outputs.labels import Names, channels_of, voice_of

# Subtitle cue limits: two lines of 42 characters is the common broadcast rule; 7 s is
# about as long as a viewer keeps reading one cue.
MAX_LINE_CHARS = 42
MAX_CUE_LINES = 2
MAX_CUE_SECONDS = 7.0
# A cue must last a little; a zero-length cue is dropped by some players.
_MIN_CUE_SECONDS = 0.001


@dataclass(frozen=True)
class Cue:
    """One subtitle cue: times in seconds and up to two lines of text."""

    start: float
    end: float
    lines: tuple[str, ...]
    channel: int
    speaker: str | None = None  # who speaks; the first line starts with "<speaker>: "


def _cues_for(utterance: Utterance, prefix: str, speaker: str | None) -> list[Cue]:
    """Split one utterance into cues of at most two lines and ``MAX_CUE_SECONDS``."""
    cues: list[Cue] = []
    lines: list[str] = []
    start = end = 0.0

    def flush() -> None:
        if lines:
            cues.append(Cue(start, end, tuple(lines), utterance.channel, speaker))

    for word in timed_tokens(utterance):
        first_in_cue = not lines
        if first_in_cue:
            lines, start, end = [prefix + word.text], word.start, word.end
            continue
        too_long = word.end - start > MAX_CUE_SECONDS
        candidate = f"{lines[-1]} {word.text}"
        if not too_long and len(candidate) <= MAX_LINE_CHARS:
            lines[-1] = candidate
        elif not too_long and len(lines) < MAX_CUE_LINES:
            lines.append(word.text)
        else:
            flush()
            lines, start, end = [prefix + word.text], word.start, word.end
            continue
        end = max(end, word.end)
    flush()
    return cues


def _speaker_prefix(speaker: str) -> str:
    return f"{speaker}: "


def build_cues(transcript: Transcript, names: Names | None = None) -> list[Cue]:
    """All cues of the transcript in time order. Each cue of an utterance with a speaker
    label, or of a channel ``names`` names, starts with who speaks; other cues of
    multi-channel audio start with their channel's number (``[2] ``)."""
    names = names or {}
    multi = len(channels_of(transcript)) > 1
    cues: list[Cue] = []
    for utterance in transcript.utterances:
        speaker = voice_of(utterance, names)
        unnamed = f"[{utterance.channel}] " if multi else ""
        prefix = _speaker_prefix(speaker) if speaker else unnamed
        cues.extend(_cues_for(utterance, prefix, speaker))
    fixed = []
    for cue in cues:
        start = max(0.0, cue.start)
        end = max(cue.end, start + _MIN_CUE_SECONDS)
        fixed.append(Cue(start, end, cue.lines, cue.channel, cue.speaker))
    # Stable sort: cues of one utterance keep their order even at equal start times.
    fixed.sort(key=lambda c: (round(c.start, 3), c.channel))
    return fixed


def _timestamp(seconds: float, separator: str) -> str:
    total_ms = round(max(0.0, seconds) * 1000)
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def srt_timestamp(seconds: float) -> str:
    """``HH:MM:SS,mmm`` as SubRip wants it."""
    return _timestamp(seconds, ",")


def vtt_timestamp(seconds: float) -> str:
    """``HH:MM:SS.mmm`` as WebVTT wants it."""
    return _timestamp(seconds, ".")


def _cue_times(cue: Cue) -> tuple[float, float]:
    # Rounded to ms first, then an end that would print equal to the start is pushed on.
    start = round(cue.start, 3)
    return start, max(round(cue.end, 3), start + _MIN_CUE_SECONDS)


def render_srt(
    transcript: Transcript, names: Names | None = None, cues: Sequence[Cue] | None = None
) -> str:
    """SubRip subtitles; an empty transcript gives an empty (valid) file. Who speaks
    starts the cue's text: ``agent: Hello``. ``cues``: the transcript's ``build_cues``
    for the same ``names``, when the caller has them already."""
    blocks = []
    chosen = build_cues(transcript, names) if cues is None else cues
    for index, cue in enumerate(chosen, start=1):
        start, end = _cue_times(cue)
        text = "\n".join(cue.lines)
        blocks.append(f"{index}\n{srt_timestamp(start)} --> {srt_timestamp(end)}\n{text}\n")
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    # WebVTT cue text is markup: these three must be escaped (and this also rules out "-->").
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _vtt_lines(cue: Cue) -> list[str]:
    lines = [_vtt_escape(line) for line in cue.lines]
    if cue.speaker and lines:
        # WebVTT names a speaker with a voice span: <v agent>text.
        first = cue.lines[0].removeprefix(_speaker_prefix(cue.speaker))
        lines[0] = f"<v {_vtt_escape(cue.speaker)}>{_vtt_escape(first)}"
    return lines


def render_vtt(
    transcript: Transcript, names: Names | None = None, cues: Sequence[Cue] | None = None
) -> str:
    """WebVTT subtitles with the ``WEBVTT`` header; an empty transcript gives just the
    header. Who speaks is the cue's voice: ``<v agent>Hello``. ``cues``: as for
    :func:`render_srt`."""
    blocks = ["WEBVTT\n"]
    for cue in build_cues(transcript, names) if cues is None else cues:
        start, end = _cue_times(cue)
        text = "\n".join(_vtt_lines(cue))
        blocks.append(f"{vtt_timestamp(start)} --> {vtt_timestamp(end)}\n{text}\n")
    return "\n".join(blocks)
