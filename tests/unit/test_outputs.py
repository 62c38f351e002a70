from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from orchestrator.core.output_options import FORMATS, OutputOptions
from orchestrator.core.transcript import Transcript, Utterance, Word
from orchestrator.outputs.conversation import clock, render_conversation
from orchestrator.outputs.files import write_atomic
from orchestrator.outputs.render import (
    SCHEMA_VERSION,
    output_keys,
    render_all,
    render_json,
    render_txt,
)
from orchestrator.outputs.subtitles import (
    MAX_CUE_SECONDS,
    MAX_LINE_CHARS,
    build_cues,
    render_srt,
    render_vtt,
    srt_timestamp,
    vtt_timestamp,
)
from orchestrator.outputs.write import (
    object_keys,
    output_paths,
    seal_of,
    write_job_outputs,
    write_order,
    write_outputs,
)

RAW = {"chunks": [{"channelTag": "1", "alternatives": [{"text": "hello world"}]}]}


def words(*spec: tuple[str, float, float]) -> tuple[Word, ...]:
    return tuple(Word(text, start, end) for text, start, end in spec)


MONO = Transcript(
    channels=(1,),
    utterances=(
        Utterance(1, "hello world", 0.88, 1.9, words(("hello", 0.88, 1.16), ("world", 1.2, 1.9))),
        Utterance(1, "second phrase", 3.0, 4.5, words(("second", 3.0, 3.5), ("phrase", 3.6, 4.5))),
    ),
    raw=RAW,
)

STEREO = Transcript(
    channels=(1, 2),
    utterances=(
        Utterance(1, "привет", 0.5, 1.0, words(("привет", 0.5, 1.0))),
        Utterance(1, "как дела", 4.0, 5.0, words(("как", 4.0, 4.4), ("дела", 4.5, 5.0))),
        Utterance(2, "здравствуй", 2.0, 3.0, words(("здравствуй", 2.0, 3.0))),
    ),
)

EMPTY = Transcript(channels=(1,), utterances=())

JOB = {
    "source": "/data/a.ogg",
    "settings": {"model": "general", "language": "ru-RU"},
    "audio": {"duration_s": 5.0, "channels": 1},
    "operation_id": "op1",
}

SRT_TIME = re.compile(r"^(\d\d):(\d\d):(\d\d),(\d\d\d) --> (\d\d):(\d\d):(\d\d),(\d\d\d)$")
VTT_TIME = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d\d\d) --> (\d\d):(\d\d):(\d\d)\.(\d\d\d)$")


def _secs(parts: tuple[str, ...]) -> float:
    h, m, s, ms = (int(p) for p in parts)
    return h * 3600 + m * 60 + s + ms / 1000


def parse_srt(text: str) -> list[tuple[float, float, list[str]]]:
    """A strict little SRT reader: numbered blocks, a time line, then text lines."""
    if not text:
        return []
    assert text.endswith("\n")
    cues = []
    for number, block in enumerate(text.rstrip("\n").split("\n\n"), start=1):
        lines = block.split("\n")
        assert lines[0] == str(number)
        match = SRT_TIME.match(lines[1])
        assert match, lines[1]
        assert lines[2:], "a cue needs text"
        cues.append((_secs(match.groups()[:4]), _secs(match.groups()[4:]), lines[2:]))
    return cues


def parse_vtt(text: str) -> list[tuple[float, float, list[str]]]:
    """A strict little WebVTT reader: the header, then blocks of a time line and text."""
    assert text.startswith("WEBVTT\n")
    body = text[len("WEBVTT\n") :]
    if not body:
        return []
    assert body.startswith("\n")
    cues = []
    for block in body.strip("\n").split("\n\n"):
        lines = block.split("\n")
        match = VTT_TIME.match(lines[0])
        assert match, lines[0]
        assert lines[1:]
        assert all("-->" not in line for line in lines[1:])
        cues.append((_secs(match.groups()[:4]), _secs(match.groups()[4:]), lines[1:]))
    return cues


def assert_well_formed(cues: list[tuple[float, float, list[str]]]) -> None:
    starts = [c[0] for c in cues]
    assert starts == sorted(starts)
    for start, end, lines in cues:
        assert end > start
        assert 1 <= len(lines) <= 2


def test_timestamps() -> None:
    assert srt_timestamp(1.234) == "00:00:01,234"
    assert vtt_timestamp(1.234) == "00:00:01.234"
    assert srt_timestamp(3725.25) == "01:02:05,250"
    assert srt_timestamp(59.9996) == "00:01:00,000"
    assert srt_timestamp(-1.0) == "00:00:00,000"


def test_srt_golden() -> None:
    assert render_srt(MONO) == (
        "1\n00:00:00,880 --> 00:00:01,900\nhello world\n"
        "\n"
        "2\n00:00:03,000 --> 00:00:04,500\nsecond phrase\n"
    )


def test_vtt_golden() -> None:
    assert render_vtt(MONO) == (
        "WEBVTT\n"
        "\n"
        "00:00:00.880 --> 00:00:01.900\nhello world\n"
        "\n"
        "00:00:03.000 --> 00:00:04.500\nsecond phrase\n"
    )


def test_multichannel_cues_are_labelled_and_interleaved_by_time() -> None:
    cues = parse_srt(render_srt(STEREO))
    assert [c[2] for c in cues] == [["[1] привет"], ["[2] здравствуй"], ["[1] как дела"]]
    assert_well_formed(cues)
    assert parse_vtt(render_vtt(STEREO)) == cues


def test_long_utterances_split_at_word_boundaries() -> None:
    text_words = [f"word{i:02d}" for i in range(60)]
    long = Utterance(
        1,
        " ".join(text_words),
        0.0,
        30.0,
        tuple(Word(w, i * 0.5, i * 0.5 + 0.4) for i, w in enumerate(text_words)),
    )
    transcript = Transcript(channels=(1,), utterances=(long,))
    cues = parse_srt(render_srt(transcript))
    assert len(cues) > 1
    assert_well_formed(cues)
    for start, end, lines in cues:
        assert end - start <= MAX_CUE_SECONDS
        assert all(len(line) <= MAX_LINE_CHARS for line in lines)
    # Every word appears exactly once, in order, none cut in half.
    assert " ".join(" ".join(lines) for _, _, lines in cues).split() == text_words


def test_utterance_without_words_uses_its_own_times() -> None:
    short = Transcript(channels=(1,), utterances=(Utterance(1, "no words here", 2.0, 3.5),))
    assert parse_srt(render_srt(short)) == [(2.0, 3.5, ["no words here"])]
    long_text = " ".join(["длинное"] * 40)
    long = Transcript(channels=(1,), utterances=(Utterance(1, long_text, 10.0, 40.0),))
    cues = parse_vtt(render_vtt(long))
    assert len(cues) > 1
    assert_well_formed(cues)
    assert cues[0][0] == 10.0
    assert cues[-1][1] == 40.0
    assert all(len(line) <= MAX_LINE_CHARS for _, _, lines in cues for line in lines)


def test_zero_length_and_reversed_words_still_give_valid_cues() -> None:
    odd = Transcript(
        channels=(1,),
        utterances=(Utterance(1, "a b", 1.0, 1.0, words(("a", 1.0, 1.0), ("b", 1.0, 0.5))),),
    )
    cues = parse_srt(render_srt(odd))
    assert_well_formed(cues)


def test_vtt_escapes_markup() -> None:
    t = Transcript(channels=(1,), utterances=(Utterance(1, "a<b> & c-->d", 0.0, 1.0),))
    vtt = render_vtt(t)
    assert "a&lt;b&gt; &amp; c--&gt;d" in vtt
    parse_vtt(vtt)


def test_empty_transcript_gives_valid_empty_files() -> None:
    assert render_srt(EMPTY) == ""
    assert render_vtt(EMPTY) == "WEBVTT\n"
    assert render_txt(EMPTY, 1) == ""
    assert parse_srt(render_srt(EMPTY)) == []
    assert parse_vtt(render_vtt(EMPTY)) == []
    doc = json.loads(render_json(EMPTY, job=JOB))
    assert doc["channels"] == [{"channel": 1, "text": "", "utterances": [], "words": []}]


def test_txt_per_channel() -> None:
    assert render_txt(MONO, 1) == "hello world\nsecond phrase\n"
    assert render_txt(STEREO, 2) == "здравствуй\n"
    assert render_txt(STEREO, 3) == ""


def test_json_shape_and_stability() -> None:
    text = render_json(MONO, job=JOB)
    doc = json.loads(text)
    assert list(doc) == [
        "schema_version",
        "source",
        "settings",
        "audio",
        "job",
        "timings",
        "speakers",
        "channels",
        "raw",
    ]
    assert doc["timings"] is True
    assert doc["speakers"] == []
    assert doc["schema_version"] == SCHEMA_VERSION
    assert doc["source"] == "/data/a.ogg"
    assert list(doc["settings"]) == ["language", "model"]
    assert doc["audio"] == {"duration_s": 5.0, "channels": 1}
    assert doc["job"] == {"operation_id": "op1"}
    assert doc["raw"] == RAW
    (channel,) = doc["channels"]
    assert channel["text"] == "hello world\nsecond phrase"
    assert channel["words"][0] == {"text": "hello", "start": 0.88, "end": 1.16, "confidence": None}
    assert channel["utterances"][1] == {"text": "second phrase", "start": 3.0, "end": 4.5}
    # Same input, same bytes, whatever order the settings came in.
    reordered = {**JOB, "settings": {"language": "ru-RU", "model": "general"}}
    assert render_json(MONO, job=reordered) == text


def test_json_rounds_to_milliseconds_and_keeps_unicode() -> None:
    t = Transcript(
        channels=(1,),
        utterances=(Utterance(1, "ёж", 0.8799999, 1.1599999, words(("ёж", 0.8799999, 1.1599))),),
    )
    text = render_json(t, job={"source": "s3://b/ёж.ogg"})
    assert "ёж" in text  # not \u escapes
    word = json.loads(text)["channels"][0]["words"][0]
    assert (word["start"], word["end"]) == (0.88, 1.16)


def test_output_paths_mono_and_stereo(tmp_path: Path) -> None:
    mono = output_paths(tmp_path, "batch-1", "calls/a", [1])
    assert mono == {
        "json": tmp_path / "batch-1/calls/a.json",
        "srt": tmp_path / "batch-1/calls/a.srt",
        "vtt": tmp_path / "batch-1/calls/a.vtt",
        "txt": tmp_path / "batch-1/calls/a.txt",
    }
    stereo = output_paths(tmp_path, "batch-1", "b.v2", [1, 2])
    assert stereo["ch1.txt"] == tmp_path / "batch-1/b.v2.ch1.txt"
    assert stereo["ch2.txt"] == tmp_path / "batch-1/b.v2.ch2.txt"
    assert "txt" not in stereo


@pytest.mark.parametrize(
    "relative", ["../x", "a/../../x", "/etc/passwd", "", "a/", "a\\..\\b", ".", "a/./b"]
)
def test_output_paths_refuse_escapes(tmp_path: Path, relative: str) -> None:
    with pytest.raises(ValueError, match="output"):
        output_paths(tmp_path, "m", relative, [1])


@pytest.mark.parametrize("name", ["..", "a/b", "", "."])
def test_output_paths_refuse_bad_manifest_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="manifest name"):
        output_paths(tmp_path, name, "x", [1])


def test_output_paths_refuse_symlink_out_of_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "root" / "m").mkdir(parents=True)
    (tmp_path / "root" / "m" / "link").symlink_to(outside)
    with pytest.raises(ValueError, match="escapes"):
        output_paths(tmp_path / "root", "m", "link/x", [1])


def test_write_outputs_writes_every_file(tmp_path: Path) -> None:
    paths = output_paths(tmp_path, "m", "deep/dir/stereo", [1, 2])
    write_outputs(paths, render_all(STEREO, job=JOB, channels=[1, 2]))
    assert (tmp_path / "m/deep/dir/stereo.ch1.txt").read_text("utf-8") == "привет\nкак дела\n"
    assert (tmp_path / "m/deep/dir/stereo.ch2.txt").read_text("utf-8") == "здравствуй\n"
    assert json.loads(paths["json"].read_text("utf-8"))["schema_version"] == SCHEMA_VERSION
    assert sorted(p.name for p in (tmp_path / "m/deep/dir").iterdir()) == sorted(
        p.name for p in paths.values()
    )


def test_write_outputs_refuses_a_missing_rendering(tmp_path: Path) -> None:
    paths = output_paths(tmp_path, "m", "x", [1, 2])
    with pytest.raises(ValueError, match=r"ch2\.txt"):
        write_outputs(paths, render_all(MONO, job=JOB, channels=[1]))
    assert not (tmp_path / "m").exists() or not any((tmp_path / "m").iterdir())


def test_write_atomic_replaces_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.txt"
    write_atomic(target, "old ✓\n")
    write_atomic(target, "new ✓\n")
    assert target.read_text("utf-8") == "new ✓\n"
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]
    assert target.stat().st_mode & 0o777 == 0o644


def test_write_atomic_failure_keeps_the_old_file_and_cleans_up(tmp_path: Path) -> None:
    # Renaming a file over a non-empty directory fails for real, after the temp is written.
    target = tmp_path / "taken"
    target.mkdir()
    (target / "keep").write_text("old", "utf-8")
    with pytest.raises(OSError):  # noqa: PT011 - the errno differs between platforms
        write_atomic(target, "new")
    assert (target / "keep").read_text("utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_build_cues_carries_channels() -> None:
    assert [c.channel for c in build_cues(STEREO)] == [1, 2, 1]


# -- speaker labels and APIs without timings -------------------------------------------------


def labelled(*spec: tuple[str, str, float, float]) -> Transcript:
    utterances = []
    for speaker, text, start, end in spec:
        tokens = text.split()
        step = (end - start) / len(tokens)
        said = tuple(
            Word(t, start + i * step, start + (i + 1) * step, None, speaker)
            for i, t in enumerate(tokens)
        )
        utterances.append(Utterance(1, text, start, end, said, speaker))
    return Transcript(channels=(1,), utterances=tuple(utterances))


DIALOGUE = labelled(
    ("Speaker 1", "hello there", 0.0, 1.0),
    ("Speaker 2", "hi", 1.5, 2.0),
    ("Speaker 2", "how are you", 2.1, 3.0),
    ("Speaker 1", "fine <thanks> & you", 3.5, 5.0),
)


def test_json_carries_the_speaker_of_utterances_and_words() -> None:
    doc = json.loads(render_json(DIALOGUE, job=JOB))
    assert doc["speakers"] == ["Speaker 1", "Speaker 2"]
    (channel,) = doc["channels"]
    assert [u["speaker"] for u in channel["utterances"]] == [
        "Speaker 1",
        "Speaker 2",
        "Speaker 2",
        "Speaker 1",
    ]
    assert channel["words"][0] == {
        "text": "hello",
        "start": 0.0,
        "end": 0.5,
        "confidence": None,
        "speaker": "Speaker 1",
    }
    # Unlabelled transcripts stay as they were.
    assert "speaker" not in json.loads(render_json(MONO, job=JOB))["channels"][0]["words"][0]


def test_txt_has_one_line_per_speaker_turn() -> None:
    assert render_txt(DIALOGUE, 1) == (
        "Speaker 1: hello there\nSpeaker 2: hi how are you\nSpeaker 1: fine <thanks> & you\n"
    )


def test_subtitles_say_who_speaks() -> None:
    srt = parse_srt(render_srt(DIALOGUE))
    assert [lines[0] for _, _, lines in srt] == [
        "Speaker 1: hello there",
        "Speaker 2: hi",
        "Speaker 2: how are you",
        "Speaker 1: fine <thanks> & you",
    ]
    vtt = render_vtt(DIALOGUE)
    parse_vtt(vtt)
    assert "\n<v Speaker 1>hello there\n" in vtt
    assert "\n<v Speaker 2>hi\n" in vtt
    # The text is escaped, the voice too; the prefix is not repeated inside the span.
    assert "\n<v Speaker 1>fine &lt;thanks&gt; &amp; you\n" in vtt
    assert [c.speaker for c in build_cues(DIALOGUE)][:2] == ["Speaker 1", "Speaker 2"]


def test_without_timings_json_and_txt_only(tmp_path: Path) -> None:
    said = Transcript(channels=(1,), utterances=(Utterance(1, "best guess", 0.0, 0.0),))
    rendered = render_all(said, job=JOB, channels=[1], timings=False)
    assert sorted(rendered) == ["json", "txt"]
    doc = json.loads(rendered["json"])
    assert doc["timings"] is False
    assert doc["channels"][0]["utterances"] == [{"text": "best guess", "start": None, "end": None}]
    paths = output_paths(tmp_path, "m", "clip", [1], timings=False)
    assert sorted(paths) == ["json", "txt"]
    write_outputs(paths, rendered)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["clip.json", "clip.txt"]


# -- channel names, the chosen formats, the conversation ------------------------------------

CALL = Transcript(
    channels=(1, 2),
    utterances=(
        Utterance(1, "good morning", 0.4, 1.2, words(("good", 0.4, 0.7), ("morning", 0.8, 1.2))),
        Utterance(1, "how can I help", 1.3, 2.0),
        Utterance(2, "hello", 2.5, 3.0, words(("hello", 2.5, 3.0))),
        Utterance(2, "I have a question", 3.2, 4.9),
        Utterance(1, "of course", 3661.2, 3662.0),
        Utterance(2, "  ", 3663.0, 3664.0),  # nothing said: no turn
    ),
)
NAMES = OutputOptions(channel_names=("agent", "customer"))
EVERY = OutputOptions(formats=FORMATS, channel_names=("agent", "customer"))


def test_the_conversation_merges_turns_in_time_order() -> None:
    assert render_conversation(CALL, {1: "agent", 2: "customer"}) == (
        "[00:00:00] agent: good morning how can I help\n"
        "[00:00:02] customer: hello I have a question\n"
        "[01:01:01] agent: of course\n"
    )
    # Unnamed channels are numbered; an empty transcript is an empty file.
    second = render_conversation(CALL).splitlines()[1]
    assert second == "[00:00:02] Channel 2: hello I have a question"
    assert render_conversation(EMPTY) == ""


def test_the_conversation_of_mono_audio_follows_the_speaker_labels() -> None:
    assert render_conversation(DIALOGUE) == (
        "[00:00:00] Speaker 1: hello there\n"
        "[00:00:01] Speaker 2: hi how are you\n"
        "[00:00:03] Speaker 1: fine <thanks> & you\n"
    )
    assert clock(-1.0) == "00:00:00"
    assert clock(59.99) == "00:00:59"


def test_named_channels_name_the_files_and_the_speakers() -> None:
    rendered = render_all(CALL, job=JOB, options=EVERY)
    assert sorted(rendered) == [
        "agent.txt",
        "conversation.txt",
        "customer.txt",
        "json",
        "srt",
        "vtt",
    ]
    assert rendered["agent.txt"] == "good morning\nhow can I help\nof course\n"
    srt = parse_srt(rendered["srt"])
    assert_well_formed(srt)
    assert [lines[0] for _, _, lines in srt][:2] == [
        "agent: good morning",
        "agent: how can I help",
    ]
    vtt = rendered["vtt"]
    assert_well_formed(parse_vtt(vtt))
    assert "\n<v agent>good morning\n" in vtt
    assert "\n<v customer>hello\n" in vtt
    document = json.loads(rendered["json"])
    assert [(c["channel"], c.get("name")) for c in document["channels"]] == [
        (1, "agent"),
        (2, "customer"),
    ]
    # Without names, as before: numbered files and cues.
    plain = render_all(CALL, job=JOB)
    assert sorted(plain) == ["ch1.txt", "ch2.txt", "json", "srt", "vtt"]
    assert parse_srt(plain["srt"])[0][2][0] == "[1] good morning"
    assert "name" not in json.loads(plain["json"])["channels"][0]


def test_only_the_chosen_formats_are_rendered_and_keyed() -> None:
    chosen = OutputOptions(formats=("conversation", "txt"), channel_names=("agent", "customer"))
    rendered = render_all(CALL, job=JOB, options=chosen)
    assert sorted(rendered) == ["agent.txt", "conversation.txt", "customer.txt"]
    assert sorted(output_keys([1, 2], options=chosen)) == sorted(rendered)
    # An API without timings gives no subtitles and no conversation.
    assert render_all(CALL, job=JOB, options=chosen, timings=False).keys() == {
        "agent.txt",
        "customer.txt",
    }
    # A channel the names do not reach keeps its number.
    assert output_keys([1, 2, 3], options=chosen)[1:] == ["agent.txt", "customer.txt", "ch3.txt"]


def test_a_chosen_set_without_json_is_written_once_its_seal_last(tmp_path: Path) -> None:
    chosen = OutputOptions(("txt", "srt", "conversation"), NAMES.channel_names)
    record = {**JOB, "operation_id": "op-7"}
    written = write_job_outputs(tmp_path, "m", "calls/x", CALL, (1, 2), record, options=chosen)
    names = [p.name for p in written]
    assert names == [
        "x.agent.txt",
        "x.conversation.txt",
        "x.customer.txt",
        "x.srt",
    ]
    assert seal_of(["agent.txt", "srt", "customer.txt"]) == "srt"
    assert seal_of(["srt", "json", "txt"]) == "json"
    stamps = {p: p.stat().st_mtime_ns for p in written}
    # A restart finds the set whole (its seal holds what it would write): nothing again.
    assert write_job_outputs(tmp_path, "m", "calls/x", CALL, (1, 2), record, options=chosen) == []
    assert {p: p.stat().st_mtime_ns for p in written} == stamps
    # A set cut short before its seal is written again, whole.
    (tmp_path / "m" / "calls" / "x.srt").unlink()
    again = write_job_outputs(tmp_path, "m", "calls/x", CALL, (1, 2), record, options=chosen)
    assert [p.name for p in again] == names
    assert not (tmp_path / "m" / "calls" / "x.json").exists()


def test_object_keys_are_the_file_names(tmp_path: Path) -> None:
    keys = object_keys("out/", "m", "calls/x", [1, 2], options=EVERY)
    paths = output_paths(tmp_path, "m", "calls/x", [1, 2], options=EVERY)
    assert keys.keys() == paths.keys()
    assert keys["conversation.txt"] == "out/m/calls/x.conversation.txt"
    assert paths["agent.txt"] == tmp_path / "m" / "calls" / "x.agent.txt"
    assert write_order(keys)[-1] == "json"
