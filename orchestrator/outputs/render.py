"""Transcript outputs rendered (pure: a transcript in, a string out): JSON and text here,
subtitles in ``outputs.subtitles``, the conversation in ``outputs.conversation``, and the
set a job's output options choose (:func:`render_all`). ``outputs.write`` puts them on disk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.core import jsontext
from orchestrator.core.output_options import OutputOptions
from orchestrator.core.transcript import Transcript, Utterance, Word
from orchestrator.outputs.conversation import render_conversation
from orchestrator.outputs.labels import Names, channels_of
from orchestrator.outputs.subtitles import Cue, build_cues, render_srt, render_vtt

SCHEMA_VERSION = 1
"""Version of the JSON output's shape; bumped on any incompatible change (a key added is
not one)."""


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


def render_json(
    transcript: Transcript,
    *,
    job: Mapping[str, Any],
    timings: bool = True,
    names: Names | None = None,
) -> str:
    """The normalised JSON document for one audio file.

    ``job`` supplies ``source`` (str), ``settings`` (mapping) and ``audio`` (mapping with
    ``duration_s`` and ``channels``); any other keys (job id, operation id, ...) go under
    ``"job"``. Times are seconds rounded to milliseconds (null when the API gives none:
    ``timings`` False); utterances and words carry their ``speaker`` when the API labelled
    them, and ``speakers`` lists the labels; a channel the manifest names has its
    ``name``. The service's response is kept under ``"raw"`` unchanged.
    """
    names = names or {}
    audio_in = job.get("audio") or {}
    channels = channels_of(transcript)
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
        entry: dict[str, Any] = {"channel": channel}
        if channel in names:
            entry["name"] = names[channel]
        entry["text"] = transcript.channel_text(channel)
        entry["utterances"] = [_utterance_json(u, timings) for u in utterances]
        entry["words"] = [_word_json(w) for u in utterances for w in u.words]
        per_channel.append(entry)
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


# --- The set ---------------------------------------------------------------------------

CONVERSATION_KEY = "conversation.txt"


def txt_key(channel: int, channels: Sequence[int], names: Names | None = None) -> str:
    """The text output's key of ``channel``: ``txt`` for mono; ``<name>.txt`` for a channel
    the manifest names, else ``ch<N>.txt``."""
    if len(channels) <= 1:
        return "txt"
    name = (names or {}).get(channel)
    return f"{name}.txt" if name else f"ch{channel}.txt"


def txt_keys(channels: Sequence[int], names: Names | None = None) -> list[str]:
    """The text outputs' keys, one per channel (see :func:`txt_key`)."""
    if len(channels) <= 1:
        return ["txt"]
    return [txt_key(c, channels, names) for c in channels]


def output_keys(
    channels: Sequence[int], *, timings: bool = True, options: OutputOptions | None = None
) -> list[str]:
    """The keys of one job's outputs (each file is ``<output>.<key>``): the formats
    ``options`` chooses that the API can give (no subtitles or conversation without
    ``timings``), text once per channel."""
    options = options or OutputOptions()
    formats = options.written(timings)
    keys: list[str] = []
    for fmt in formats:
        if fmt == "txt":
            keys.extend(txt_keys(channels, options.names()))
        elif fmt == "conversation":
            keys.append(CONVERSATION_KEY)
        else:
            keys.append(fmt)
    return keys


def render_all(
    transcript: Transcript,
    *,
    job: Mapping[str, Any],
    channels: Sequence[int] | None = None,
    timings: bool = True,
    options: OutputOptions | None = None,
) -> dict[str, str]:
    """Every output ``options`` chooses, rendered, keyed as :func:`output_keys` gives for
    the same ``channels``, ``timings`` and ``options``."""
    options = options or OutputOptions()
    chans = tuple(channels) if channels is not None else channels_of(transcript)
    names = options.names()
    rendered: dict[str, str] = {}
    cues: list[Cue] | None = None  # built once for both subtitle formats

    def subtitles() -> list[Cue]:
        nonlocal cues
        if cues is None:
            cues = build_cues(transcript, names)
        return cues

    for key in output_keys(chans, timings=timings, options=options):
        if key == "json":
            rendered[key] = render_json(transcript, job=job, timings=timings, names=names)
        elif key == "srt":
            rendered[key] = render_srt(transcript, names, subtitles())
        elif key == "vtt":
            rendered[key] = render_vtt(transcript, names, subtitles())
        elif key == CONVERSATION_KEY:
            rendered[key] = render_conversation(transcript, names)
    if "txt" in options.formats:
        for channel in chans or (1,):
            rendered[txt_key(channel, chans, names)] = render_txt(transcript, channel)
    return rendered
