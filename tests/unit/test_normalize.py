"""v2 LongRunningRecognitionResponse -> Transcript."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.core.constants import V2_RESPONSE_TYPE
from orchestrator.core.transcript import Word
from orchestrator.speechkit.normalize import (
    _well_formed_words,
    normalize_v2,
    parse_channel,
    parse_duration,
)
from orchestrator.speechkit.normalize import (
    _word as careful_word,
)


def _word(word: str, start: str, end: str) -> dict[str, Any]:
    return {"startTime": start, "endTime": end, "word": word, "confidence": 1}


# The shape of speechkit-api.md section 2, two channels, two chunks on channel 1.
RESPONSE: dict[str, Any] = {
    "@type": V2_RESPONSE_TYPE,
    "chunks": [
        {
            "alternatives": [
                {
                    "words": [
                        _word("when", "0.879999999s", "1.159999992s"),
                        _word("ready", "1.200s", "1.5s"),
                    ],
                    "text": "when ready",
                    "confidence": 1,
                }
            ],
            "channelTag": "1",
        },
        {
            "alternatives": [
                {
                    "words": [_word("hello", "0.5s", "0.9s")],
                    "text": "hello",
                    "confidence": 1,
                }
            ],
            "channelTag": "2",
        },
        {
            "alternatives": [
                {
                    "words": [_word("later", "4s", "4.400000006s")],
                    "text": "later",
                    "confidence": 1,
                }
            ],
            "channelTag": "1",
        },
    ],
}


def test_realistic_two_channel_response() -> None:
    transcript = normalize_v2(RESPONSE)
    assert transcript.channels == (1, 2)
    assert [(u.channel, u.text) for u in transcript.utterances] == [
        (2, "hello"),
        (1, "when ready"),
        (1, "later"),
    ]
    first = transcript.utterances[1]
    assert first.start == pytest.approx(0.879999999)
    assert first.end == pytest.approx(1.5)
    when = first.words[0]
    assert (when.text, when.confidence) == ("when", None)
    assert (when.start, when.end) == pytest.approx((0.879999999, 1.159999992))
    assert transcript.channel_text(1) == "when ready\nlater"
    assert transcript.raw == RESPONSE


def test_no_chunks_is_an_empty_transcript() -> None:
    transcript = normalize_v2({"@type": V2_RESPONSE_TYPE})
    assert transcript.utterances == ()
    assert transcript.channels == ()
    assert normalize_v2(None).utterances == ()


def test_known_channel_count_lists_silent_channels() -> None:
    assert normalize_v2({"chunks": []}, channels=2).channels == (1, 2)


def test_same_start_sorted_by_channel() -> None:
    chunks = [
        {"alternatives": [{"words": [_word("b", "1s", "2s")], "text": "b"}], "channelTag": "2"},
        {"alternatives": [{"words": [_word("a", "1s", "2s")], "text": "a"}], "channelTag": "1"},
    ]
    assert [u.text for u in normalize_v2({"chunks": chunks}).utterances] == ["a", "b"]


def test_missing_fields_are_tolerated() -> None:
    chunks: list[Any] = [
        "garbage",
        {"channelTag": "1"},  # no alternatives
        {"alternatives": []},
        {"alternatives": [{"text": "", "words": []}]},  # nothing recognised
        {"alternatives": [{"words": [{"word": "x"}, {"startTime": "1s"}]}]},  # no text
        {"alternatives": [{"text": "no words", "words": None}], "channelTag": "2"},
        {"alternatives": [{"text": "tagless", "words": [_word("tagless", "3s", "bad")]}]},
    ]
    transcript = normalize_v2({"chunks": chunks})
    by_text = {u.text: u for u in transcript.utterances}
    assert set(by_text) == {"x", "no words", "tagless"}
    assert by_text["x"].words == (Word("x", 0.0, 0.0),)
    assert by_text["no words"].channel == 2
    assert by_text["no words"].words == ()
    assert by_text["tagless"].channel == 1
    assert by_text["tagless"].end == 3.0  # an unreadable end falls back to the start
    assert transcript.channels == (1, 2)


def test_chunk_without_word_times_stays_after_its_predecessor() -> None:
    chunks = [
        {"alternatives": [{"text": "one", "words": [_word("one", "5s", "6s")]}]},
        {"alternatives": [{"text": "two"}]},
    ]
    utterances = normalize_v2({"chunks": chunks}).utterances
    assert [u.text for u in utterances] == ["one", "two"]
    assert utterances[1].start == 6.0


def test_confidence_is_not_passed_on() -> None:
    # v2 documents confidence as unsupported; a constant 1 would mislead readers.
    words = normalize_v2(RESPONSE).utterances[0].words
    assert all(w.confidence is None for w in words)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("0.879999999s", 0.879999999),
        ("12s", 12.0),
        ("1.5", 1.5),
        (2, 2.0),
        (0.25, 0.25),
        ({"seconds": "3", "nanos": 500000000}, 3.5),
        ("", 0.0),
        ("abc", 0.0),
        ("-1s", 0.0),
        ("nans", 0.0),
        (None, 0.0),
        (True, 0.0),
    ],
)
def test_parse_duration(value: Any, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "channel"), [("1", 1), ("2", 2), (3, 3), (" 4 ", 4), ("x", 1), (None, 1)]
)
def test_parse_channel(value: Any, channel: int) -> None:
    assert parse_channel(value) == channel


def test_processing_seconds_from_the_operation_timestamps() -> None:
    from orchestrator.speechkit.base import OperationStatus

    raw = {"createdAt": "2024-05-01T10:00:00.250Z", "modifiedAt": "2024-05-01T10:00:12.750Z"}
    assert OperationStatus(id="x", done=True, raw=raw).processing_s() == 12.5
    assert OperationStatus(id="x", done=False, raw=raw).processing_s() is None
    nanos = {"createdAt": "2024-05-01T10:00:00Z", "modifiedAt": "2024-05-01T10:00:01.123456789Z"}
    assert OperationStatus(id="x", done=True, raw=nanos).processing_s() == pytest.approx(1.123457)
    broken = {"createdAt": "yesterday", "modifiedAt": "2024-05-01T10:00:01Z"}
    assert OperationStatus(id="x", done=True, raw=broken).processing_s() is None
    backwards = {"createdAt": "2024-05-01T10:00:05Z", "modifiedAt": "2024-05-01T10:00:01Z"}
    assert OperationStatus(id="x", done=True, raw=backwards).processing_s() is None


_durations = st.one_of(
    st.floats(min_value=0, max_value=1e5).map(lambda x: f"{x}s"),
    st.sampled_from(["", "s", "-1s", "nans", "infs", "1.5", " 2.5s ", "1e3s", "0x10s"]),
    st.integers(min_value=-5, max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.just({"seconds": "3", "nanos": 5}),
)
_raw_words = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {
                "word": st.one_of(st.text(max_size=6), st.none(), st.integers()),
                "startTime": _durations,
                "endTime": _durations,
            },
            optional={"confidence": st.sampled_from([0, 1])},
        ),
        st.none(),
        st.text(max_size=3),
    ),
    max_size=8,
)


@given(_raw_words)
def test_the_fast_path_for_well_formed_words_gives_what_the_careful_one_gives(
    raw: list[Any],
) -> None:
    # Most chunks take the fast path; whenever it answers, its words must be exactly the
    # careful path's (and the careful path is the one the other tests pin down).
    fast = _well_formed_words(raw)
    careful = tuple(w for w in (careful_word(r) for r in raw) if w is not None)
    if fast is not None:
        assert fast == careful
        assert all(type(w) is Word for w in fast)


def test_the_fast_path_takes_the_documented_shape() -> None:
    raw = [{"word": "да", "startTime": "0.5s", "endTime": "0.400s", "confidence": 1}]
    assert _well_formed_words(raw) == (Word("да", 0.5, 0.5),)
    assert _well_formed_words([{"word": "x", "startTime": "1", "endTime": "2s"}]) is None
