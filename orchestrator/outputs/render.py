"""Transcript outputs rendered (pure: a transcript in, a string out): JSON, text, SRT, WebVTT.

``outputs.write`` puts them on disk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.core import jsontext
from orchestrator.core.transcript import Transcript, Utterance, Word

SCHEMA_VERSION = 1
"""Version of the JSON output's shape; bumped on any incompatible change."""

# Subtitle cue limits: two lines of 42 characters is the common broadcast rule; 7 s is
# about as long as a viewer keeps reading one cue.
MAX_LINE_CHARS = 42
MAX_CUE_LINES = 2
MAX_CUE_SECONDS = 7.0
# A cue must last a little; a zero-length cue is dropped by some players.
_MIN_CUE_SECONDS = 0.001


# --- JSON -------------------------------------------------------------------------------


def _ms(seconds: float) -> float:
    return round(seconds, 3)


def _word_json(word: Word) -> dict[str, Any]:
    found = {
        "text": word.text,
        "start": _ms(word.start),
        "end": _ms(word.end),
        "confidence": word.confidence,
    }
    if word.speaker is not None:
        found["speaker"] = word.speaker
    return found


def _utterance_json(utterance: Utterance, timings: bool) -> dict[str, Any]:
    found: dict[str, Any] = {
        "text": utterance.text,
        "start": _ms(utterance.start) if timings else None,
        "end": _ms(utterance.end) if timings else None,
    }
    if utterance.speaker is not None:
        found["speaker"] = utterance.speaker
    return found


def _sorted_json(value: Any) -> Any:
    """Mappings with sorted keys, recursively, so that equal inputs give equal bytes."""
    if isinstance(value, Mapping):
        return {str(k): _sorted_json(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [_sorted_json(v) for v in value]
    return value


def _channels_of(transcript: Transcript) -> tuple[int, ...]:
    found = set(transcript.channels) | {u.channel for u in transcript.utterances}
    return tuple(sorted(found))


def render_json(transcript: Transcript, *, job: Mapping[str, Any], timings: bool = True) -> str:
    """The normalised JSON document for one audio file.

    ``job`` supplies ``source`` (str), ``settings`` (mapping) and ``audio`` (mapping with
    ``duration_s`` and ``channels``); any other keys (job id, operation id, ...) go under
    ``"job"``. Times are seconds rounded to milliseconds (null when the API gives none:
    ``timings`` False); utterances and words carry their ``speaker`` when the API labelled
    them, and ``speakers`` lists the labels. The service's response is kept under ``"raw"``
    unchanged.
    """
    audio_in = job.get("audio") or {}
    channels = _channels_of(transcript)
    audio = {
        "duration_s": _ms(float(audio_in["duration_s"]))
        if audio_in.get("duration_s") is not None
        else None,
        "channels": int(audio_in["channels"])
        if audio_in.get("channels") is not None
        else max(len(channels), 1),
    }
    extra = {k: v for k, v in job.items() if k not in {"source", "settings", "audio"}}
    per_channel = []
    for channel in channels:
        utterances = [u for u in transcript.utterances if u.channel == channel]
        per_channel.append(
            {
                "channel": channel,
                "text": transcript.channel_text(channel),
                "utterances": [_utterance_json(u, timings) for u in utterances],
                "words": [_word_json(w) for u in utterances for w in u.words],
            }
        )
    document = {
        "schema_version": SCHEMA_VERSION,
        "source": job.get("source"),
        "settings": _sorted_json(job.get("settings") or {}),
        "audio": audio,
        "job": _sorted_json(extra),
        "timings": timings,
        "speakers": list(transcript.speakers),
        "channels": per_channel,
        "raw": transcript.raw,
    }
    return jsontext.dumps_indented(document) + "\n"


# --- Plain text -------------------------------------------------------------------------


def render_txt(transcript: Transcript, channel: int) -> str:
    """The text of one channel, one utterance per line; empty when nothing was recognised.

    With speaker labels, one line per speaker turn (the utterances one speaker says in a
    row), prefixed with the label: ``Speaker 1: ...``.
    """
    utterances = [u for u in transcript.utterances if u.channel == channel and u.text]
    if not any(u.speaker for u in utterances):
        text = transcript.channel_text(channel)
        return text + "\n" if text else ""
    turns: list[tuple[str | None, list[str]]] = []
    for utterance in utterances:
        if turns and turns[-1][0] == utterance.speaker:
            turns[-1][1].append(utterance.text)
        else:
            turns.append((utterance.speaker, [utterance.text]))
    lines = [f"{who}: {' '.join(said)}" if who else " ".join(said) for who, said in turns]
    return "".join(line + "\n" for line in lines)


# --- Subtitles --------------------------------------------------------------------------


@dataclass(frozen=True)
class Cue:
    """One subtitle cue: times in seconds and up to two lines of text."""

    start: float
    end: float
    lines: tuple[str, ...]
    channel: int
    speaker: str | None = None  # the first line starts with "<speaker>: "


def _clean(text: str) -> str:
    return " ".join(text.split())


def _words_for(utterance: Utterance) -> list[Word]:
    """The utterance's words, or words made up from its text with interpolated times.

    Without word timings the utterance's span is shared out in proportion to each word's
    length, which keeps long utterances splittable into readable cues.
    """
    real = []
    for word in utterance.words:
        text = _clean(word.text)
        if text:
            real.append(word if text == word.text else word._replace(text=text))
    if real:
        return real
    tokens = _clean(utterance.text).split(" ")
    tokens = [t for t in tokens if t]
    if not tokens:
        return []
    total = sum(len(t) + 1 for t in tokens)
    span = max(0.0, utterance.end - utterance.start)
    words: list[Word] = []
    offset = 0
    for token in tokens:
        start = utterance.start + span * offset / total
        offset += len(token) + 1
        words.append(Word(token, start, utterance.start + span * offset / total))
    return words


def _cues_for(utterance: Utterance, prefix: str) -> list[Cue]:
    """Split one utterance into cues of at most two lines and ``MAX_CUE_SECONDS``."""
    cues: list[Cue] = []
    lines: list[str] = []
    start = end = 0.0

    def flush() -> None:
        if lines:
            cues.append(Cue(start, end, tuple(lines), utterance.channel, utterance.speaker))

    for word in _words_for(utterance):
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


def build_cues(transcript: Transcript) -> list[Cue]:
    """All cues of the transcript in time order; multi-channel cues say their channel, and
    each cue of a labelled utterance starts with its speaker."""
    multi = len(_channels_of(transcript)) > 1
    cues: list[Cue] = []
    for utterance in transcript.utterances:
        prefix = f"[{utterance.channel}] " if multi else ""
        if utterance.speaker:
            prefix = _speaker_prefix(utterance.speaker)
        cues.extend(_cues_for(utterance, prefix))
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


def render_srt(transcript: Transcript, cues: Sequence[Cue] | None = None) -> str:
    """SubRip subtitles; an empty transcript gives an empty (valid) file. ``cues``: the
    transcript's ``build_cues``, when the caller has them already."""
    blocks = []
    for index, cue in enumerate(build_cues(transcript) if cues is None else cues, start=1):
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
        # WebVTT names a speaker with a voice span: <v Speaker 1>text.
        first = cue.lines[0].removeprefix(_speaker_prefix(cue.speaker))
        lines[0] = f"<v {_vtt_escape(cue.speaker)}>{_vtt_escape(first)}"
    return lines


def render_vtt(transcript: Transcript, cues: Sequence[Cue] | None = None) -> str:
    """WebVTT subtitles with the ``WEBVTT`` header; an empty transcript gives just the header.
    ``cues``: the transcript's ``build_cues``, when the caller has them already."""
    blocks = ["WEBVTT\n"]
    for cue in build_cues(transcript) if cues is None else cues:
        start, end = _cue_times(cue)
        text = "\n".join(_vtt_lines(cue))
        blocks.append(f"{vtt_timestamp(start)} --> {vtt_timestamp(end)}\n{text}\n")
    return "\n".join(blocks)


def txt_keys(channels: Sequence[int]) -> list[str]:
    """The text outputs' keys: ``txt`` for mono, ``ch1.txt``, ``ch2.txt``... otherwise."""
    if len(channels) <= 1:
        return ["txt"]
    return [f"ch{c}.txt" for c in channels]


def render_all(
    transcript: Transcript,
    *,
    job: Mapping[str, Any],
    channels: Sequence[int] | None = None,
    timings: bool = True,
) -> dict[str, str]:
    """Every output rendered, keyed like ``output_paths`` for the same ``channels`` and
    ``timings`` (without timings there are no subtitles to write)."""
    chans = tuple(channels) if channels is not None else _channels_of(transcript)
    rendered = {"json": render_json(transcript, job=job, timings=timings)}
    if timings:
        cues = build_cues(transcript)  # once for both formats
        rendered["srt"] = render_srt(transcript, cues)
        rendered["vtt"] = render_vtt(transcript, cues)
    if len(chans) <= 1:
        rendered["txt"] = render_txt(transcript, chans[0] if chans else 1)
    else:
        for c in chans:
            rendered[f"ch{c}.txt"] = render_txt(transcript, c)
    return rendered
