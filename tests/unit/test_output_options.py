"""Output choices: formats and channel names, read from manifests and checked; never part
of what the service is asked."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orchestrator.core.errors import UserInputError
from orchestrator.core.output_options import (
    DEFAULT_FORMATS,
    OutputOptions,
    channel_name_problem,
    names_problem,
)
from orchestrator.intake.manifest import load_manifest, validate_manifest

AUDIO = Path(__file__).resolve().parents[2] / "examples" / "audio"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copy(AUDIO / "call-stereo.ogg", tmp_path / "call.ogg")
    shutil.copy(AUDIO / "greeting-mono.ogg", tmp_path / "hello.ogg")
    return tmp_path


def write(folder: Path, text: str) -> Path:
    path = folder / "m.yaml"
    path.write_text(text, "utf-8")
    return path


def problems(path: Path) -> list[tuple[int | None, str | None, str]]:
    with pytest.raises(UserInputError) as info:
        load_manifest(path)
    return [(p.line, p.field, p.message) for p in info.value.problems]


def test_names_and_formats_from_defaults_and_per_job(folder: Path) -> None:
    path = write(
        folder,
        "name: m\n"
        "defaults:\n"
        "  channel_names: [agent, customer]\n"
        "  outputs: [txt, conversation]\n"
        "jobs:\n"
        "  - call.ogg\n"
        "  - audio: hello.ogg\n"
        "    output: other\n"
        "    channel_names: [оператор]\n"  # any script's letters
        "    outputs: json\n"  # one format, without a list
        "  - audio: call.ogg\n"
        "    output: plain\n"
        "    channel_names: null\n",  # no names
    )
    first, second, third = load_manifest(path).jobs
    assert first.options == OutputOptions(("txt", "conversation"), ("agent", "customer"))
    assert second.options == OutputOptions(("json",), ("оператор",))
    assert third.options == OutputOptions(("txt", "conversation"), ())
    # What is written does not change what is asked: one recognition for all three.
    assert first.settings.key() == third.settings.key()


def test_without_the_keys_the_defaults(folder: Path) -> None:
    (job,) = load_manifest(write(folder, "name: m\njobs: [call.ogg]\n")).jobs
    assert job.options == OutputOptions()
    assert job.options.formats == DEFAULT_FORMATS == ("json", "txt", "srt", "vtt")


def test_bad_choices_are_named_where_they_are_written(folder: Path) -> None:
    path = write(
        folder,
        "name: m\n"
        "defaults:\n"
        "  outputs: [json, srtt]\n"  # 3
        "jobs:\n"
        "  - audio: call.ogg\n"
        "    channel_names: [agent, agent.1]\n"  # 6
        "  - audio: hello.ogg\n"
        "    channel_names: [Agent, agent]\n"  # 8
        "  - audio: call.ogg\n"
        "    output: a\n"
        "    outputs: []\n"  # 11
        "  - audio: call.ogg\n"
        "    output: b\n"
        "    outputs: [txt, txt]\n"  # 14
        "  - audio: call.ogg\n"
        "    output: c\n"
        "    channel_names: [conversation, ch2]\n",  # 17
    )
    found = problems(path)
    assert [(line, field) for line, field, _m in found] == [
        (3, "defaults.outputs[1]"),
        (6, "jobs[0].channel_names[1]"),
        (8, "jobs[1].channel_names[1]"),
        (11, "jobs[2].outputs"),
        (14, "jobs[3].outputs[1]"),
        (17, "jobs[4].channel_names[0]"),
    ]
    messages = [m for _l, _f, m in found]
    assert "did you mean 'srt'?" in messages[0]
    assert "becomes part of a file name" in messages[1]
    assert "listed twice (names are compared ignoring case)" in messages[2]
    assert "an empty list" in messages[3]
    assert "txt is listed twice" in messages[4]
    assert "name of another output file" in messages[5]


def test_names_must_fit_declared_channels_and_timed_formats_need_times(folder: Path) -> None:
    path = write(
        folder,
        "name: m\n"
        "defaults:\n"
        "  outputs: [json, conversation]\n"
        "jobs:\n"
        "  - audio: call.ogg\n"
        "    channels: 3\n"
        "    channel_names: [a, b]\n"  # 7: two names, three channels
        "  - audio: hello.ogg\n"
        "    api: asr_xml\n"  # 9: the defaults' conversation needs times
        "    model: queries\n"
        "  - audio: call.ogg\n"
        "    output: x\n"
        "    api: asr_xml\n"
        "    model: queries\n"
        "    outputs: [txt, srt]\n",  # 15
    )
    found = problems(path)
    assert [(line, field) for line, field, _m in found] == [
        (7, "jobs[0].channel_names"),
        (9, "jobs[1].api"),
        (15, "jobs[2].outputs"),
    ]
    assert "2 channel names for 3 declared channels" in found[0][2]
    assert "conversation needs word times" in found[1][2]
    assert "(outputs comes from defaults)" in found[1][2]
    assert "srt needs word times" in found[2][2]


def test_validate_counts_the_channels_the_audio_has(folder: Path) -> None:
    path = write(
        folder,
        "name: m\njobs:\n"
        "  - audio: call.ogg\n"  # stereo
        "    channel_names: [agent]\n"
        "  - audio: hello.ogg\n"  # mono
        "    channel_names: [agent]\n"
        "  - audio: hello.ogg\n"  # mono: the first name is its
        "    output: hello-2\n"
        "    channel_names: [agent, customer]\n"
        "  - audio: hello.ogg\n"
        "    output: hello-3\n"
        "    channels: 1\n"
        "    channel_names: [agent, customer]\n",
    )
    checked = validate_manifest(path)
    assert [(p.line, p.field) for p in checked.problems] == [(3, "channel_names")]
    assert "1 name but the audio has 2 channels" in checked.problems[0].message


def test_channel_name_rules() -> None:
    for good in ("agent", "Customer_2", "оператор", "a-b", "9"):
        assert channel_name_problem(good) is None, good
    for bad in ("", "-a", "a b", "a.b", "a/b", "x" * 41, "json", "CH1", "report", "a\n"):
        assert channel_name_problem(bad) is not None, bad


def test_options_round_trip_and_what_is_written_without_times() -> None:
    options = OutputOptions(("json", "srt", "conversation", "txt"), ("a", "b"))
    assert OutputOptions.from_dict(options.to_dict()) == options
    assert OutputOptions.from_dict(None) == OutputOptions()
    assert options.written(timings=False) == ("json", "txt")
    assert options.names() == {1: "a", 2: "b"}
    assert (options.name_of(2), options.name_of(3)) == ("b", None)
    assert names_problem(options, 2) is None
    assert names_problem(OutputOptions(), 5) is None
    # A mono file among stereo calls takes the first name; a third channel has none.
    assert names_problem(options, 1) is None
    assert names_problem(options, 3) == (
        "channel_names gives 2 names but the audio has 3 channels: give a name for each channel"
    )


def test_an_unknown_model_lists_the_models_of_the_jobs_api_only(folder: Path) -> None:
    path = write(
        folder,
        "name: m\n"
        "jobs:\n"
        "  - audio: call.ogg\n"
        "    model: foo\n"  # 4: v2 by default
        "  - audio: call.ogg\n"
        "    output: x\n"
        "    api: asr_xml\n"
        "    model: foo\n",  # 8
    )
    found = problems(path)
    assert [(line, field) for line, field, _m in found] == [
        (4, "jobs[0].model"),
        (8, "jobs[1].model"),
    ]
    assert found[0][2].endswith(
        "allowed: general, general:rc, general:deprecated, deferred-general"
    )
    assert "queries" not in found[0][2]
    assert "queries" in found[1][2]
    assert "deferred-general" not in found[1][2]


def test_the_dataset_is_the_manifests_and_is_made_from_the_json(folder: Path) -> None:
    path = write(
        folder,
        "name: m\n"
        "defaults:\n"
        "  outputs: [json, txt, dataset]\n"
        "jobs:\n"
        "  - call.ogg\n"
        "  - audio: hello.ogg\n"
        "    outputs: [txt, dataset]\n",  # 7
    )
    assert problems(path) == [
        (7, "jobs[1].outputs", "dataset is made from the jobs' json outputs: list json too")
    ]
    path.write_text(path.read_text("utf-8").replace("[txt, dataset]", "[json, dataset]"), "utf-8")
    first, second = load_manifest(path).jobs
    assert (first.options.dataset, second.options.dataset) == (True, True)
    # Not a file of the job's own: written beside the report once the manifest ends.
    assert first.options.written(timings=True) == ("json", "txt")
    assert not OutputOptions().dataset
