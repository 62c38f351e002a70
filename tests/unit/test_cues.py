"""Cues show the utterance's text (digits, capitals, punctuation) at its words' times."""

from __future__ import annotations

import json

import pytest

from orchestrator.core.transcript import Transcript, Utterance, Word
from orchestrator.outputs.cues import timed_tokens
from orchestrator.outputs.render import render_json, render_txt
from orchestrator.outputs.subtitles import MAX_CUE_SECONDS, build_cues, render_srt

# As v2 answers with literature_text: the words spell the number out and carry no
# punctuation; the text has the figures, a capital, a comma and a full stop.
SPOKEN = (
    Word("вчера", 0.5, 0.9),
    Word("раз", 1.0, 1.2),
    Word("добрый", 1.3, 1.7),
    Word("пятьдесят", 1.9, 2.4),
    Word("пять", 2.4, 2.8),
)
LITERATURE = Utterance(1, "Вчера раз добрый, 55.", 0.5, 2.8, SPOKEN)
JOB = {"source": "a.wav", "settings": {}, "audio": {"duration_s": 3.0, "channels": 1}}


def test_the_cue_reads_as_the_txt_not_as_the_words() -> None:
    transcript = Transcript(channels=(1,), utterances=(LITERATURE,))
    (cue,) = build_cues(transcript)
    assert cue.lines == ("Вчера раз добрый, 55.",)
    assert (cue.start, cue.end) == (0.5, 2.8)
    assert render_txt(transcript, 1) == "Вчера раз добрый, 55.\n"
    assert "Вчера раз добрый, 55." in render_srt(transcript)


def test_each_token_takes_its_words_times() -> None:
    timed = timed_tokens(LITERATURE)
    assert [w.text for w in timed] == ["Вчера", "раз", "добрый,", "55."]
    assert [(w.start, w.end) for w in timed[:3]] == [(0.5, 0.9), (1.0, 1.2), (1.3, 1.7)]
    # "55." stands for "пятьдесят пять": it spans both.
    assert (timed[3].start, timed[3].end) == (1.9, 2.8)


def test_the_json_keeps_both_the_text_and_the_spoken_words() -> None:
    transcript = Transcript(channels=(1,), utterances=(LITERATURE,))
    (channel,) = json.loads(render_json(transcript, job=JOB))["channels"]
    assert channel["utterances"][0]["text"] == "Вчера раз добрый, 55."
    assert [w["text"] for w in channel["words"]] == [w.text for w in SPOKEN]


def test_a_long_utterance_splits_into_cues_at_the_words_times() -> None:
    # 40 words of 0.5 s: the text has digits where the words count, and commas.
    spoken, shown = [], []
    for i in range(40):
        spoken.append(Word("двадцать" if i % 10 == 3 else f"слово{i}", i * 0.5, i * 0.5 + 0.4))
        shown.append("20," if i % 10 == 3 else f"Слово{i}")
    utterance = Utterance(1, " ".join(shown), 0.0, 19.9, tuple(spoken))
    cues = build_cues(Transcript(channels=(1,), utterances=(utterance,)))
    assert len(cues) > 2
    assert " ".join(" ".join(c.lines) for c in cues) == utterance.text
    index = 0
    for cue in cues:
        assert cue.end - cue.start <= MAX_CUE_SECONDS
        count = len(" ".join(cue.lines).split(" "))
        assert cue.start == pytest.approx(spoken[index].start)
        assert cue.end == pytest.approx(spoken[index + count - 1].end)
        index += count
    assert [c.start for c in cues] == sorted(c.start for c in cues)


def test_tokens_without_a_word_and_words_without_a_token() -> None:
    spoken = (Word("да", 0.0, 0.2), Word("э", 0.3, 0.4), Word("нет", 0.5, 0.8))
    # A word the text leaves out ("э") lends its time to no token.
    timed = timed_tokens(Utterance(1, "Да нет.", 0.0, 0.8, spoken))
    assert [(w.text, w.start, w.end) for w in timed] == [("Да", 0.0, 0.2), ("нет.", 0.5, 0.8)]
    # A token no word stands for (a dash) is a moment after the word before it.
    timed = timed_tokens(Utterance(1, "Да — нет.", 0.0, 0.8, (spoken[0], spoken[2])))
    assert [(w.text, w.start, w.end) for w in timed] == [
        ("Да", 0.0, 0.2),
        ("—", 0.2, 0.2),
        ("нет.", 0.5, 0.8),
    ]


def test_without_words_or_without_text() -> None:
    no_words = timed_tokens(Utterance(1, "ab cd", 1.0, 2.0))
    assert [(w.text, w.start, w.end) for w in no_words] == [("ab", 1.0, 1.5), ("cd", 1.5, 2.0)]
    no_text = timed_tokens(Utterance(1, "", 1.0, 2.0, (Word("x", 1.0, 2.0),)))
    assert [w.text for w in no_text] == ["x"]
