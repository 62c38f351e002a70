"""API v3: what ``getRecognition`` streams, one ``{"result": StreamingResponse}`` per line.

Shapes come from ``yandex/cloud/ai/stt/v3/stt.proto`` and the documentation's REST example
(``_includes/speechkit/async-recognition-v3.md``): every result carries ``sessionUuid``
(``uuid``, and ``userRequestId`` = the operation id), ``audioCursors``, ``responseWallTimeMs``,
``channelTag`` and one event. int64 fields are JSON strings; defaults are still sent
(``"languages": []``, ``"confidence": 0``, which the proto says is unused).

Per utterance: a ``partial`` (its first words), the ``final``, with normalisation on a
``finalRefinement`` (``finalIndex`` + ``normalizedText``), then an ``eouUpdate``; each audio
channel's stream opens with a ``statusCode``. ``final`` holds the raw text (numbers spelt out);
``normalizedText`` holds digits and, with ``literatureText``, capitals and punctuation.

``finalIndex`` counts the finals of one recognition session from 0, and a session is one
audio channel (``audioCursors.finalIndex`` is that session's cursor): with several channels
each ``channelTag`` counts on its own, so a final is found by (``channelTag``, ``finalIndex``).

Speaker labels: stt.proto has no speaker field on words or alternatives; the documentation's
"Speaker labeling" page says the results carry ``channel_tag`` "0" or "1", one value per
speaker, for mono audio only, at most two speakers. So with ``speakerLabeling`` enabled on
mono audio each utterance's ``channelTag`` (outer and inside ``final``) is its speaker; the
single audio channel is still one session, so ``finalIndex`` runs across both speakers.
Multi-channel audio ignores speaker labeling (the page allows it for mono only).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from orchestrator.emulator.audio import ProbedAudio
from orchestrator.emulator.synth import RenderOptions, Utterance, Word, utterances
from orchestrator.emulator.v3_request import V3Request

MAX_SPEAKERS = 2


def _ms(seconds: float) -> str:
    return str(round(seconds * 1000))


def _words(words: Iterable[Word]) -> list[dict[str, Any]]:
    return [{"text": w.text, "startTimeMs": _ms(w.start), "endTimeMs": _ms(w.end)} for w in words]


def _alternative(words: tuple[Word, ...], text: str, frame_start_ms: str) -> dict[str, Any]:
    # The frame is the segment since the previous final, not the speech: in the
    # documentation's example (async-recognition-v3.md) it runs from "0" to "7400" while
    # the words run from 459 to 7180 ms. That it starts where the previous final's frame
    # ended is a guess; the example has one final only.
    return {
        "words": _words(words),
        "text": text,
        "startTimeMs": frame_start_ms,
        "endTimeMs": _ms(words[-1].end),
        "confidence": 0,
        "languages": [],
    }


def _update(alternative: dict[str, Any], tag: str) -> dict[str, Any]:
    # AlternativeUpdate keeps its deprecated channel_tag; the documented example sends it.
    return {"alternatives": [alternative], "channelTag": tag}


def speaker_tags(content_hash: str, count: int) -> list[int]:
    """A speaker (0 or 1) for each of ``count`` utterances, seeded by the audio."""
    rng = random.Random(f"{content_hash}:speakers")
    tags = [0]
    for _ in range(1, count):
        tags.append(1 - tags[-1] if rng.random() < 0.5 else tags[-1])
    if count > 1 and len(set(tags)) < MAX_SPEAKERS:
        # A conversation needs both speakers; the second utterance answers the first.
        tags[1] = 1
    return tags[:count]


@dataclass
class _Session:
    """One recognition session (one audio channel): its uuid and cursors."""

    uuid: str
    finals: int = 0
    last_final_ms: str = "0"
    last_eou_ms: str = "0"


class _Stream:
    def __init__(self, operation_id: str, audio: ProbedAudio) -> None:
        self.operation_id = operation_id
        self.received_ms = _ms(audio.duration_s)
        self.lines: list[dict[str, Any]] = []
        self.sessions: dict[int, _Session] = {}

    def session(self, channel: int) -> _Session:
        if channel not in self.sessions:
            name = uuid.uuid5(uuid.NAMESPACE_URL, f"{self.operation_id}/{channel}").hex
            dashed = "-".join(name[i : i + 8] for i in range(0, 32, 8))
            self.sessions[channel] = _Session(uuid=dashed)
        return self.sessions[channel]

    def emit(
        self, channel: int, tag: str, event: str, body: dict[str, Any], partial_ms: str
    ) -> None:
        session = self.session(channel)
        final_index = max(session.finals - 1, 0)
        self.lines.append(
            {
                "result": {
                    "sessionUuid": {"uuid": session.uuid, "userRequestId": self.operation_id},
                    "audioCursors": {
                        "receivedDataMs": self.received_ms,
                        "resetTimeMs": "0",
                        "partialTimeMs": partial_ms,
                        "finalTimeMs": session.last_final_ms,
                        "finalIndex": str(final_index),
                        "eouTimeMs": session.last_eou_ms,
                    },
                    # The server's clock when it wrote the result: grows through the stream.
                    "responseWallTimeMs": str(180 + 7 * len(self.lines)),
                    event: body,
                    "channelTag": tag,
                }
            }
        )

    def utterance(self, raw: Utterance, normal: Utterance | None, tag: str, channel: int) -> None:
        session = self.session(channel)
        end_ms = _ms(raw.end)
        frame = session.last_final_ms
        if len(raw.words) > 1:
            head = raw.words[: len(raw.words) // 2]
            text = " ".join(w.text for w in head)
            partial = _update(_alternative(head, text, frame), tag)
            self.emit(channel, tag, "partial", partial, _ms(head[-1].end))
        session.finals += 1
        session.last_final_ms = end_ms
        final = _update(_alternative(raw.words, raw.text, frame), tag)
        self.emit(channel, tag, "final", final, end_ms)
        if normal is not None:
            refinement = {
                "finalIndex": str(session.finals - 1),
                "normalizedText": _update(_alternative(normal.words, normal.text, frame), tag),
            }
            self.emit(channel, tag, "finalRefinement", refinement, end_ms)
        session.last_eou_ms = end_ms
        self.emit(channel, tag, "eouUpdate", {"timeMs": end_ms}, end_ms)


def build_results(
    operation_id: str, content_hash: str, audio: ProbedAudio, request: V3Request
) -> list[dict[str, Any]]:
    """Every line getRecognition answers for this audio and these settings."""
    stream = _Stream(operation_id, audio)
    labels = request.speaker_labeling and audio.channels == 1
    for channel in range(audio.channels):
        tag = "0" if labels else str(channel)
        status = {"codeType": "WORKING", "message": ""}
        stream.emit(channel, tag, "statusCode", status, "0")
    if audio.silent:
        return stream.lines
    raw_options = RenderOptions(
        language=request.language, raw_results=True, profanity_filter=request.profanity_filter
    )
    normal_options = RenderOptions(
        language=request.language,
        literature_text=request.literature_text,
        profanity_filter=request.profanity_filter,
    )
    raw = utterances(content_hash, audio.duration_s, audio.channels, raw_options)
    normal = utterances(content_hash, audio.duration_s, audio.channels, normal_options)
    speakers = speaker_tags(content_hash, len(raw)) if labels else None
    for index, (plain, normalised) in enumerate(zip(raw, normal, strict=True)):
        tag = str(speakers[index]) if speakers is not None else str(plain.channel)
        stream.utterance(plain, normalised if request.normalization else None, tag, plain.channel)
    return stream.lines
