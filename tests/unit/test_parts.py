"""Parts of a split job: their JSON, the bytes of an LPCM part, and the stitched transcript."""

from __future__ import annotations

import itertools

import pytest

from orchestrator.core.audio import AudioFacts
from orchestrator.core.parts import Part, part_facts, stitch
from orchestrator.core.transcript import Transcript, Utterance, Word

# 8 kHz stereo 16-bit WAV, 10 s: 4 bytes a frame, 320,000 bytes after a 44-byte header.
WAV = AudioFacts(
    encoding="LINEAR16_PCM",
    duration_s=10.0,
    channels=2,
    sample_rate=8000,
    data_offset=44,
    data_length=320_000,
    container="wav",
    size_bytes=320_044,
)


def test_part_round_trips_through_json_and_names_itself() -> None:
    part = Part(index=1, count=3, start_s=12.5, end_s=25.0)
    assert Part.from_json(part.to_json()) == part
    assert part.label == "part 2 of 3"


def test_part_facts_take_whole_frames_of_the_range() -> None:
    facts = part_facts(WAV, Part(1, 2, 4.0, 10.0))
    assert facts is not None
    assert facts.data_offset == 44 + 4 * 8000 * 4
    assert facts.data_length == 6 * 8000 * 4
    assert facts.duration_s == pytest.approx(6.0)
    assert (facts.channels, facts.sample_rate, facts.encoding) == (2, 8000, "LINEAR16_PCM")


def test_part_facts_align_an_odd_time_to_a_frame() -> None:
    facts = part_facts(WAV, Part(0, 2, 0.0, 3.00007))
    assert facts is not None
    assert facts.data_offset == 44
    assert facts.data_length % 4 == 0
    assert facts.duration_s == pytest.approx(facts.data_length / 4 / 8000)


def test_part_facts_end_at_the_data() -> None:
    facts = part_facts(WAV, Part(1, 2, 5.0, 99.0))
    assert facts is not None
    assert facts.data_offset + facts.data_length == 44 + 320_000


def test_parts_cover_the_data_without_gap_or_overlap() -> None:
    cuts = [0.0, 3.3333, 6.6667, 10.0]
    parts = [part_facts(WAV, Part(i, 3, cuts[i], cuts[i + 1])) for i in range(3)]
    offsets = [(f.data_offset, f.data_offset + f.data_length) for f in parts if f]
    assert offsets[0][0] == 44
    assert offsets[-1][1] == 44 + 320_000
    assert all(a[1] == b[0] for a, b in itertools.pairwise(offsets))


def test_part_facts_of_other_encodings_are_left_to_conversion() -> None:
    opus = AudioFacts("OGG_OPUS", 10.0, 1, 48000, 0, 5000, "ogg_opus")
    assert part_facts(opus, Part(0, 2, 0.0, 5.0)) is None
    remote = AudioFacts("LINEAR16_PCM", 0.0, 1, 8000, 0, 0, "remote")
    assert part_facts(remote, Part(0, 2, 0.0, 5.0)) is None


def _said(
    channel: int, text: str, start: float, end: float, speaker: str | None = None
) -> Utterance:
    words = (Word(text, start, end, 0.9, speaker),)
    return Utterance(channel, text, start, end, words, speaker)


def test_stitch_offsets_times_and_keeps_order() -> None:
    first = Transcript((1,), (_said(1, "hello", 0.5, 1.0), _said(1, "there", 2.0, 2.5)), raw="a")
    second = Transcript((1,), (_said(1, "again", 0.25, 1.0),), raw="b")
    whole = stitch([(Part(1, 2, 10.0, 20.0), second), (Part(0, 2, 0.0, 10.0), first)])
    assert [(u.text, u.start, u.end) for u in whole.utterances] == [
        ("hello", 0.5, 1.0),
        ("there", 2.0, 2.5),
        ("again", 10.25, 11.0),
    ]
    assert whole.utterances[2].words[0][1:3] == (10.25, 11.0)
    assert whole.utterances[2].words[0].confidence == 0.9
    assert whole.raw == {"parts": ["a", "b"]}


def test_stitch_keeps_channels_and_speakers_of_every_part() -> None:
    first = Transcript((1, 2), (_said(1, "hi", 0.0, 1.0), _said(2, "yes", 1.0, 2.0)))
    second = Transcript((2,), (_said(2, "bye", 0.0, 1.0, "Speaker 1"),))
    whole = stitch([(Part(0, 2, 0.0, 30.0), first), (Part(1, 2, 30.0, 60.0), second)])
    assert whole.channels == (1, 2)
    assert whole.channel_text(2) == "yes\nbye"
    assert whole.utterances[-1].start == 30.0
    assert whole.utterances[-1].words[0].speaker == "Speaker 1"
    assert whole.speakers == ("Speaker 1",)


def test_stitch_of_empty_parts_is_empty() -> None:
    empty = Transcript((1,), ())
    said = Transcript((1,), (_said(1, "only", 1.0, 2.0),))
    whole = stitch([(Part(0, 3, 0.0, 5.0), empty), (Part(1, 3, 5.0, 9.0), said),
                    (Part(2, 3, 9.0, 12.0), empty)])  # fmt: skip
    assert [(u.text, u.start) for u in whole.utterances] == [("only", 6.0)]
    assert whole.raw == {"parts": [None, None, None]}
    assert stitch([(Part(0, 1, 0.0, 5.0), empty)]).empty
