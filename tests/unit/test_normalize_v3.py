"""API v3 getRecognition lines -> Transcript: finals, refinements paired by (channelTag,
finalIndex), int64 strings, other events ignored, speaker labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.speechkit.normalize_v3 import normalize_v3
from orchestrator.speechkit.v3 import parse_results


def alternative(text: str, *words: tuple[str, int, int]) -> dict[str, Any]:
    return {
        "words": [
            {"text": w, "startTimeMs": str(start), "endTimeMs": str(end)} for w, start, end in words
        ],
        "text": text,
        "startTimeMs": str(words[0][1]) if words else "0",
        "endTimeMs": str(words[-1][2]) if words else "0",
        "confidence": 0,
        "languages": [],
    }


def result(tag: str, event: str, body: dict[str, Any], final_index: int = 0) -> dict[str, Any]:
    return {
        "result": {
            "sessionUuid": {"uuid": "u", "userRequestId": "f8d1"},
            "audioCursors": {"finalIndex": str(final_index), "finalTimeMs": "0"},
            "responseWallTimeMs": "190",
            event: body,
            "channelTag": tag,
        }
    }


def final(tag: str, index: int, alt: dict[str, Any]) -> dict[str, Any]:
    return result(tag, "final", {"alternatives": [alt], "channelTag": tag}, index)


def refinement(tag: str, index: int, alt: dict[str, Any]) -> dict[str, Any]:
    body = {
        "finalIndex": str(index),
        "normalizedText": {"alternatives": [alt], "channelTag": tag},
    }
    return result(tag, "finalRefinement", body, index)


# Two channels interleaved; each counts its finals from 0; refinements come after finals.
LINES: list[dict[str, Any]] = [
    result("0", "statusCode", {"codeType": "WORKING", "message": ""}),
    result("1", "statusCode", {"codeType": "WORKING", "message": ""}),
    result("0", "partial", {"alternatives": [alternative("twenty", ("twenty", 100, 400))]}),
    final("0", 0, alternative("twenty five", ("twenty", 100, 400), ("five", 450, 700))),
    final("1", 0, alternative("hello", ("hello", 300, 600))),
    refinement("0", 0, alternative("25.", ("25.", 100, 700))),
    result("0", "eouUpdate", {"timeMs": "700"}),
    final("0", 1, alternative("one more", ("one", 2000, 2200), ("more", 2300, 2600))),
    refinement("1", 0, alternative("Hello.", ("Hello.", 300, 600))),
    result("1", "classifierUpdate", {"windowType": "LAST_FINAL"}),
]


def test_finals_and_their_refinements_per_channel() -> None:
    transcript = normalize_v3(LINES)
    assert transcript.channels == (1, 2)
    assert [(u.channel, u.text, u.start, u.end) for u in transcript.utterances] == [
        (1, "25.", 0.1, 0.7),  # refined: channel "0", final 0
        (2, "Hello.", 0.3, 0.6),  # refined: channel "1", final 0 (the same index, apart)
        (1, "one more", 2.0, 2.6),  # no refinement: the final as it is
    ]
    words = transcript.utterances[2].words
    assert [(w.text, w.start, w.end, w.speaker) for w in words] == [
        ("one", 2.0, 2.2, None),
        ("more", 2.3, 2.6, None),
    ]
    assert not transcript.speakers
    assert transcript.raw == LINES


def test_speaker_tags_become_labels_on_the_one_channel() -> None:
    lines = [
        final("0", 0, alternative("hi", ("hi", 0, 300))),
        final("1", 1, alternative("hello", ("hello", 500, 900))),
        final("0", 2, alternative("bye", ("bye", 1000, 1200))),
    ]
    transcript = normalize_v3(lines, speakers=True)
    assert transcript.channels == (1,)
    assert [(u.channel, u.speaker) for u in transcript.utterances] == [
        (1, "Speaker 1"),
        (1, "Speaker 2"),
        (1, "Speaker 1"),
    ]
    assert transcript.speakers == ("Speaker 1", "Speaker 2")
    assert transcript.utterances[1].words[0].speaker == "Speaker 2"


def test_silence_and_odd_lines() -> None:
    quiet = [result("0", "statusCode", {"codeType": "WORKING", "message": ""})]
    assert normalize_v3(quiet).empty
    assert normalize_v3(quiet, channels=2).channels == (1, 2)
    odd: list[Any] = [
        "not an object",
        {"no": "result"},
        result("0", "final", {"alternatives": []}),
        result("0", "final", {"alternatives": [{"text": "", "words": []}]}),
        # A word without a start is skipped; a final without cursors is numbered in order.
        {"result": {"final": {"alternatives": [alternative("x", ("x", 5, 9))]}, "channelTag": "0"}},
        {"result": {"final": {"alternatives": [{"text": "y", "words": [{"text": "y"}]}]}}},
    ]
    transcript = normalize_v3(odd)
    assert [u.text for u in transcript.utterances] == ["y", "x"]
    assert transcript.utterances[1].words[0].start == 0.005


def test_results_are_read_one_object_per_line_or_as_an_array() -> None:
    body = b'{"result": {"channelTag": "0"}}\n\n{"result": {"channelTag": "1"}}\n'
    assert parse_results(body) == [{"result": {"channelTag": "0"}}, {"result": {"channelTag": "1"}}]
    assert parse_results(b'[{"result": {}}]') == [{"result": {}}]
    assert parse_results(b"") == []


# The documentation's example answer of getRecognition, as printed in
# en/_includes/speechkit/async-recognition-v3.md ("Request the operation result", in the
# yandex-cloud/docs repository): three messages, each pretty-printed over many lines. One
# typo of the page is mended (`"text: "turn"` lacks a quote); the test below puts it back.
DOC_EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "v3-getrecognition-example.txt"
DOC_TEXT = "I'm Yandex SpeechKit I can turn any text into speech now you can too"


def test_the_documentations_example_stream_is_read() -> None:
    body = DOC_EXAMPLE.read_bytes()
    lines = parse_results(body)
    assert [
        next(k for k in ("final", "finalRefinement", "eouUpdate") if k in line["result"])
        for line in lines
    ] == ["final", "finalRefinement", "eouUpdate"]
    (utterance,) = normalize_v3(lines).utterances
    assert utterance.text == DOC_TEXT
    assert len(utterance.words) == 14
    # The frame says 0..7400 ms; the speech is from the first word to the last.
    assert (utterance.start, utterance.end) == (0.459, 7.18)


def test_the_documentations_typo_fails_naming_where() -> None:
    text = DOC_EXAMPLE.read_text()
    broken = text.replace('"text": "turn"', '"text: "turn"', 1)
    with pytest.raises(ValueError, match=r"value 1 of the stream is not JSON at line 4\d column"):
        parse_results(broken.encode())


@pytest.mark.parametrize(
    "layout",
    [
        lambda values: "\n".join(json.dumps(v) for v in values),
        lambda values: "".join(json.dumps(v) for v in values),
        lambda values: " ".join(json.dumps(v) for v in values) + "\r\n",
        lambda values: "\n\n".join(json.dumps(v, indent=2) for v in values) + "\n",
        lambda values: json.dumps(values[0]) + "\n" + "".join(json.dumps(x) for x in values[1:]),
    ],
)
def test_any_layout_of_concatenated_values_reads_the_same(layout: Any) -> None:
    values = parse_results(DOC_EXAMPLE.read_bytes())
    assert parse_results(layout(values).encode()) == values


def test_several_finals_per_channel_pair_with_their_refinements() -> None:
    # A long two-channel recording: finals interleave across channels, each channel's
    # indexes count on their own, and every final has its normalised refinement.
    lines: list[Any] = []
    for index in range(12):
        for tag in ("0", "1"):
            start = 1000 * (index * 3 + int(tag))
            spoken = alternative(f"ch{tag} номер {index} пять", ("w", start, start + 400))
            lines.append(final(tag, index, {**spoken, "startTimeMs": "0"}))
            normal = alternative(f"Ch{tag} номер {index}: 5.", ("w", start, start + 400))
            lines.append(refinement(tag, index, normal))
    transcript = normalize_v3(lines)
    assert transcript.channels == (1, 2)
    for channel in (1, 2):
        said = [u for u in transcript.utterances if u.channel == channel]
        assert [u.text for u in said] == [f"Ch{channel - 1} номер {i}: 5." for i in range(12)]
        assert [u.start for u in said] == [3.0 * i + channel - 1 for i in range(12)]
