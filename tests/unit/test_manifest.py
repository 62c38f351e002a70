from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.core.audio import AudioFacts
from orchestrator.core.errors import Problem, UserInputError
from orchestrator.core.settings import RecognitionSettings
from orchestrator.intake.jobspec import (
    JobSpec,
    normal_output,
    safe_output_problem,
    strip_extension,
)
from orchestrator.intake.manifest import (
    ManifestReading,
    Validation,
    load_manifest,
    validate_manifest,
)
from orchestrator.intake.preparation import Preparation

AUDIO = Path(__file__).resolve().parents[2] / "examples" / "audio"


@pytest.fixture
def audio_dir(tmp_path: Path) -> Path:
    """A copy of the sample recordings: calls/ (two ogg), podcasts/ (one mp3), a wav at the top."""
    root = tmp_path / "audio"
    (root / "calls" / "2024").mkdir(parents=True)
    (root / "podcasts").mkdir()
    shutil.copy(AUDIO / "greeting-mono.ogg", root / "calls" / "a.ogg")
    shutil.copy(AUDIO / "call-stereo.ogg", root / "calls" / "2024" / "b.ogg")
    shutil.copy(AUDIO / "podcast-mono.mp3", root / "podcasts" / "ep1.mp3")
    shutil.copy(AUDIO / "voicemail-mono.wav", root / "vm.wav")
    (root / "calls" / ".hidden.ogg").write_bytes(b"not audio")
    (root / "calls" / "notes.txt").write_text("not audio", encoding="utf-8")
    return root


def write(directory: Path, text: str, name: str = "m.yaml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[Problem]:
    with pytest.raises(UserInputError) as info:
        load_manifest(path)
    return info.value.problems


def one(found: list[Problem]) -> Problem:
    assert len(found) == 1, found
    return found[0]


def test_defaults_overrides_and_outputs(audio_dir: Path) -> None:
    path = write(
        audio_dir.parent,
        "name: calls-2024\n"  # 1
        "base_dir: audio\n"  # 2
        "defaults:\n"  # 3
        "  language: en-US\n"  # 4
        "  model: general:rc\n"  # 5
        "  literature_text: true\n"  # 6
        "jobs:\n"  # 7
        "  - audio: calls/a.ogg\n"  # 8
        "    output: greetings/hello\n"  # 9
        "  - audio: podcasts/ep1.mp3\n"  # 10
        "    language: ru-RU\n"  # 11
        "    priority: 5\n"  # 12
        "  - vm.wav\n"  # 13
        "  - audio: s3://my-bucket/in/x.ogg\n"  # 14
        "    api: v3\n",  # 15
    )
    manifest = load_manifest(path)
    assert manifest.name == "calls-2024"
    assert manifest.path == path
    greet, podcast, voicemail, s3 = manifest.jobs
    assert greet.source == str(audio_dir / "calls" / "a.ogg")
    assert (greet.output, greet.line) == ("greetings/hello", 8)
    assert greet.settings == RecognitionSettings(
        language="en-US", model="general:rc", literature_text=True
    )
    assert (podcast.output, podcast.line) == ("podcasts/ep1", 10)
    assert podcast.settings.language == "ru-RU"
    assert podcast.settings.priority == 5
    assert podcast.settings.model == "general:rc"
    assert (voicemail.output, voicemail.line) == ("vm", 13)
    assert (s3.source, s3.output, s3.line, s3.is_s3) == (
        "s3://my-bucket/in/x.ogg",
        "in/x",
        14,
        True,
    )
    assert s3.settings.api == "v3"


def test_relative_paths_default_to_the_manifest_directory(audio_dir: Path) -> None:
    manifest = load_manifest(write(audio_dir, "name: m\njobs:\n  - audio: calls/a.ogg\n"))
    assert manifest.jobs[0].source == str(audio_dir / "calls" / "a.ogg")


def test_glob_is_recursive_and_mirrors_paths(audio_dir: Path) -> None:
    path = write(audio_dir, "name: m\njobs:\n  - audio: 'calls/**/*.ogg'\n")
    jobs = load_manifest(path).jobs
    assert [j.output for j in jobs] == ["calls/2024/b", "calls/a"]
    assert {j.line for j in jobs} == {3}


def test_glob_outside_base_dir_is_relative_to_its_root(audio_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "manifests"
    elsewhere.mkdir()
    path = write(elsewhere, f"name: m\njobs:\n  - audio: '{audio_dir}/calls/**/*.ogg'\n")
    assert [j.output for j in load_manifest(path).jobs] == ["2024/b", "a"]


def test_file_outside_base_dir_keeps_its_name(audio_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "manifests"
    elsewhere.mkdir()
    path = write(elsewhere, f"name: m\njobs:\n  - audio: {audio_dir}/podcasts/ep1.mp3\n")
    assert load_manifest(path).jobs[0].output == "ep1"


def test_directory_with_default_and_given_patterns(audio_dir: Path) -> None:
    path = write(
        audio_dir,
        "name: m\njobs:\n  - audio: calls\n  - audio: .\n    include: ['*.mp3', 'vm.*']\n",
    )
    jobs = load_manifest(path).jobs
    # Hidden files and other extensions are skipped.
    assert [j.output for j in jobs] == ["calls/2024/b", "calls/a", "podcasts/ep1", "vm"]
    assert [j.line for j in jobs] == [3, 3, 4, 4]


def test_language_model_and_value_checks(audio_dir: Path) -> None:
    path = write(
        audio_dir,
        "name: m\n"  # 1
        "defaults:\n"  # 2
        "  language: russian\n"  # 3
        "  model: generl\n"  # 4
        "  encoding: WAV\n"  # 5
        "  sample_rate: 44100\n"  # 6
        "  channels: 0\n"  # 7
        "  api: v4\n"  # 8
        "  priority: 1.5\n"  # 9
        "  profanity_filter: maybe\n"  # 10
        "  langauge: ru-RU\n"  # 11
        "jobs:\n"  # 12
        "  - audio: calls/a.ogg\n"  # 13
        "    channels: 9\n"  # 14
        "    modle: general\n",  # 15
    )
    found = {(p.line, p.field): p.message for p in problems(path)}
    assert "language code like ru-RU" in found[(3, "defaults.language")]
    assert "did you mean 'general'?" in found[(4, "defaults.model")]
    assert "allowed: OGG_OPUS, MP3, LINEAR16_PCM" in found[(5, "defaults.encoding")]
    assert found[(6, "defaults.sample_rate")] == "must be one of: 8000, 16000, 48000; got 44100"
    assert found[(7, "defaults.channels")] == "must be at least 1, got 0"
    assert "allowed: v2, v3, asr_xml" in found[(8, "defaults.api")]
    assert found[(9, "defaults.priority")] == "must be an integer, got a number"
    assert "true or false" in found[(10, "defaults.profanity_filter")]
    assert "did you mean 'language'?" in found[(11, "defaults.langauge")]
    assert found[(14, "jobs[0].channels")] == "must be at most 8, got 9"
    assert "did you mean 'model'?" in found[(15, "jobs[0].modle")]
    assert len(found) == 11


def test_v3_and_asr_xml_and_auto_language(audio_dir: Path) -> None:
    path = write(
        audio_dir,
        "name: m\ndefaults:\n  api: v3\n  language: auto\njobs:\n"
        "  - audio: calls/a.ogg\n  - audio: vm.wav\n    api: asr_xml\n    language: en-US\n",
    )
    jobs = load_manifest(path).jobs
    assert [(j.settings.api, j.settings.language) for j in jobs] == [
        ("v3", "auto"),
        ("asr_xml", "en-US"),
    ]
    bad = write(audio_dir, "name: m\ndefaults:\n  language: auto\njobs: [calls/a.ogg]\n", "b.yaml")
    p = one(problems(bad))
    assert (p.line, p.field) == (3, "defaults.language")
    assert "needs api v3" in p.message


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        ("/etc/passwd", "must be a relative path"),
        ("../../x", "must not contain '..'"),
        ("a/../../x", "must not contain '..'"),
        ('"a\\0b"', "NUL byte"),
        ('"a\\nb"', "control character"),
        ("'.'", "must not be empty"),
    ],
)
def test_hostile_outputs(audio_dir: Path, output: str, reason: str) -> None:
    path = write(audio_dir, f"name: m\njobs:\n  - audio: calls/a.ogg\n    output: {output}\n")
    p = one(problems(path))
    assert (p.line, p.field) == (4, "jobs[0].output")
    assert reason in p.message


def test_safe_output_problem() -> None:
    assert safe_output_problem("a/b c") is None
    assert safe_output_problem("C:/x") is not None
    assert safe_output_problem("..") is not None


def test_hostile_s3_key(audio_dir: Path) -> None:
    path = write(audio_dir, "name: m\njobs:\n  - audio: s3://bucket/../../etc/x.ogg\n")
    p = one(problems(path))
    assert (p.line, p.field) == (3, "jobs[0].audio")
    assert "'..'" in p.message


@pytest.mark.parametrize("uri", ["s3://", "s3://bucket", "s3://bucket/", "s3://B_x/k", "s3://b/*"])
def test_bad_s3_uris(audio_dir: Path, uri: str) -> None:
    p = one(problems(write(audio_dir, f"name: m\njobs:\n  - audio: '{uri}'\n")))
    assert (p.line, p.field) == (3, "jobs[0].audio")


def test_duplicate_outputs_name_both_lines(audio_dir: Path) -> None:
    path = write(
        audio_dir,
        "name: m\njobs:\n"  # 1-2
        "  - audio: calls/a.ogg\n"  # 3
        "    output: same\n"  # 4
        "  - audio: vm.wav\n"  # 5
        "    output: same\n",  # 6
    )
    p = one(problems(path))
    assert (p.line, p.field) == (6, "jobs[1].output")
    assert "line 3" in p.message
    assert "line 5" in p.message


def test_same_name_different_extension_in_a_directory(audio_dir: Path) -> None:
    shutil.copy(AUDIO / "podcast-mono.mp3", audio_dir / "calls" / "a.mp3")
    p = one(problems(write(audio_dir, "name: m\njobs:\n  - audio: calls\n")))
    assert (p.line, p.field) == (3, "jobs[0].audio")
    assert "'calls/a' is produced twice" in p.message


def test_glob_and_directory_matching_nothing(audio_dir: Path) -> None:
    (audio_dir / "empty").mkdir()
    path = write(
        audio_dir,
        "name: m\njobs:\n  - audio: 'nothing/**/*.ogg'\n  - audio: empty\n"
        "  - audio: podcasts\n    include: '*.flac'\n",
    )
    found = problems(path)
    assert [(p.line, p.field) for p in found] == [
        (3, "jobs[0].audio"),
        (4, "jobs[1].audio"),
        (5, "jobs[2].audio"),
    ]
    assert "matches no file" in found[0].message
    assert "holds no file matching *.ogg" in found[1].message
    assert "*.flac" in found[2].message


def test_output_and_include_only_where_they_apply(audio_dir: Path) -> None:
    path = write(
        audio_dir,
        "name: m\njobs:\n"
        "  - audio: calls\n    output: x\n"  # 3-4
        "  - audio: vm.wav\n    include: '*.wav'\n",  # 5-6
    )
    found = {(p.line, p.field): p.message for p in problems(path)}
    assert "only for a single file" in found[(4, "jobs[0].output")]
    assert "only for a directory" in found[(6, "jobs[1].include")]


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        ("name: m\njobs: []\n", 2, "jobs", "is empty"),
        ("name: m\n", 1, "jobs", "missing"),
        ("name: m\njobs: vm.wav\n", 2, "jobs", "must be a list"),
        ("jobs: [vm.wav]\n", 1, "name", "missing"),
        ("name: a/b\njobs: [vm.wav]\n", 1, "name", "A-Z, a-z"),
        ("name: m\nbase_dir: nowhere\njobs: [vm.wav]\n", 2, "base_dir", "not a directory"),
        ("name: m\njob: [vm.wav]\njobs: [vm.wav]\n", 2, "job", "did you mean 'jobs'?"),
        ("name: m\njobs:\n  - output: x\n", 3, "jobs[0].audio", "missing"),
        ("name: m\njobs:\n  - [vm.wav]\n", 3, "jobs[0]", "must be a mapping"),
        ("name: m\njobs: [1]\n", 2, "jobs[0].audio", "must be a string"),
        ("name: m\njobs: [[\n", 3, None, "invalid YAML"),
    ],
)
def test_structure_problems(
    audio_dir: Path, text: str, line: int, field: str | None, message: str
) -> None:
    p = one(problems(write(audio_dir, text)))
    assert (p.file, p.line, p.field) == (str(audio_dir / "m.yaml"), line, field)
    assert message in p.message


def test_empty_and_missing_manifest(audio_dir: Path) -> None:
    assert "empty" in one(problems(write(audio_dir, "# nothing\n"))).message
    assert one(problems(audio_dir / "absent.yaml")).message == "file not found"


def test_settings_key_ignores_priority() -> None:
    a = RecognitionSettings(priority=1)
    assert a.key() == RecognitionSettings(priority=9).key()
    assert a.key() != RecognitionSettings(language="en-US").key()


def probed(path: Path) -> tuple[Validation, dict[str, AudioFacts]]:
    """``validate_manifest``'s answer and the facts of each file it probed."""
    infos: dict[str, AudioFacts] = {}

    def keep(job: JobSpec, prepared: Preparation | None) -> None:
        if prepared is not None:
            infos[job.source] = prepared.facts

    return validate_manifest(path, on_job=keep), infos


def test_validation_probes_local_files(audio_dir: Path) -> None:
    shutil.copy(AUDIO / "podcast-mono.mp3", audio_dir / "fake.ogg")
    path = write(
        audio_dir,
        "name: m\njobs:\n"
        "  - audio: calls/a.ogg\n"  # 3
        "  - audio: missing.ogg\n"  # 4
        "  - audio: fake.ogg\n"  # 5
        "  - audio: s3://bucket/k.ogg\n",  # 6
    )
    load_manifest(path)  # the structure is valid
    checked, infos = probed(path)
    found = checked.problems
    assert set(infos) == {str(audio_dir / "calls" / "a.ogg")}
    assert infos[str(audio_dir / "calls" / "a.ogg")].channels == 1
    assert [(p.file, p.line, p.field) for p in found] == [
        (str(path), 4, "jobs[1].audio"),
        (str(path), 5, "jobs[2].audio"),
    ]
    assert "missing.ogg" in found[0].message
    assert "fake.ogg" in found[1].message


def test_validate_manifest_reports_structure_and_audio_together(audio_dir: Path) -> None:
    path = write(
        audio_dir,
        "name: m\ndefaults:\n  modle: general\njobs:\n  - audio: missing.ogg\n  - audio: vm.wav\n",
    )
    checked, infos = probed(path)
    assert checked.name is None
    assert [(p.line, p.field) for p in checked.problems] == [
        (3, "defaults.modle"),
        (5, "jobs[0].audio"),
    ]
    assert set(infos) == {str(audio_dir / "vm.wav")}


def test_the_examples_are_valid_and_the_broken_one_is_not() -> None:
    examples = AUDIO.parent / "manifests"
    for path in sorted(examples.glob("*.yaml")):
        checked = validate_manifest(path)
        assert checked.problems == [], path
        assert checked.valid
    found = validate_manifest(examples / "broken" / "broken.yaml").problems
    assert len(found) >= 8
    assert all(p.line is not None for p in found)


def test_v3_settings_languages_and_normalisation(audio_dir: Path) -> None:
    path = write(
        audio_dir,
        "name: m\n"
        "defaults:\n"
        "  api: v3\n"
        "  language: [ru-RU, en-US]\n"
        "  text_normalization: false\n"
        "  speaker_labeling: true\n"
        "jobs:\n"
        "  - audio: calls/a.ogg\n"
        "  - audio: podcasts/ep1.mp3\n"
        "    text_normalization: null\n"  # back to: as literature_text
        "    language: auto\n",
    )
    first, second = load_manifest(path).jobs
    assert first.settings.language == ("ru-RU", "en-US")
    assert (first.settings.text_normalization, first.settings.speaker_labeling) == (False, True)
    assert (second.settings.language, second.settings.text_normalization) == ("auto", None)


@pytest.mark.parametrize(
    ("language", "field", "message"),
    [
        ("[]", "defaults.language", "an empty list"),
        ("[ru-RU, ru-RU]", "defaults.language[1]", "ru-RU is listed twice"),
        ("[ru-RU, english]", "defaults.language[1]", "must be a language code"),
        ("[ru-RU, 5]", "defaults.language[1]", "must be a string"),
    ],
)
def test_bad_language_lists(audio_dir: Path, language: str, field: str, message: str) -> None:
    path = write(
        audio_dir, f"name: m\ndefaults:\n  api: v3\n  language: {language}\njobs: [vm.wav]\n"
    )
    p = one(problems(path))
    assert p.field == field
    assert message in p.message


def test_language_codes_are_read_in_any_case(audio_dir: Path) -> None:
    # The service reads languageCode case-insensitively; the manifest does too, and keeps
    # the service's spelling (one job key for RU-ru and ru-RU).
    path = write(
        audio_dir,
        "name: m\ndefaults:\n  language: RU-ru\njobs:\n  - audio: calls/a.ogg\n"
        "  - audio: vm.wav\n    api: v3\n    language: [en-us, DE-de]\n",
    )
    jobs = load_manifest(path).jobs
    assert [j.settings.language for j in jobs] == ["ru-RU", ("en-US", "de-DE")]


@pytest.mark.parametrize(
    ("api", "language", "field", "message"),
    [
        ("v2", "ru_RU", "defaults.language", "ru_RU is not a language code: did you mean ru-RU?"),
        ("v3", "[ru-RU, en_us]", "defaults.language[1]", "did you mean en-US?"),
        ("v2", "en-UK", "defaults.language", "no model recognises en-UK: the languages are"),
        ("v3", "[en-UK]", "defaults.language[0]", "no model recognises en-UK"),
        # asr_xml's own code is known, but no v2 model lists it.
        ("v2", "uk-UK", "defaults.language", "api v2 takes one of ru-RU, en-US"),
        ("v3", "[ru-RU, uk-UK]", "defaults.language", "api v3 takes one of ru-RU"),
    ],
)
def test_language_codes_no_model_lists_are_refused(
    audio_dir: Path, api: str, language: str, field: str, message: str
) -> None:
    path = write(
        audio_dir, f"name: m\ndefaults:\n  api: {api}\n  language: {language}\njobs: [vm.wav]\n"
    )
    p = one(problems(path))
    assert p.field == field
    assert message in p.message


def test_a_setting_the_api_cannot_take_is_reported_where_it_is_set(audio_dir: Path) -> None:
    path = write(
        audio_dir,
        "name: m\n"
        "defaults:\n"
        "  api: v3\n"
        "  speaker_labeling: true\n"  # fine for the default API
        "jobs:\n"
        "  - audio: calls/a.ogg\n"
        "  - audio: vm.wav\n"
        "    api: v2\n"  # 8: the defaults' speaker_labeling does not suit v2
        "  - audio: podcasts/ep1.mp3\n"
        "    raw_results: true\n",  # 10: not a v3 setting
    )
    found = {(p.line, p.field): p.message for p in problems(path)}
    assert found == {
        (8, "jobs[1].api"): "speaker_labeling is not available with api v2; it needs api v3 "
        "(speaker_labeling comes from defaults: set it on this entry)",
        (10, "jobs[2].raw_results"): "raw_results is not available with api v3; it needs api v2",
    }


def test_asr_xml_takes_local_files_checked_offline(audio_dir: Path) -> None:
    path = write(
        audio_dir, "name: m\ndefaults:\n  api: asr_xml\njobs:\n  - vm.wav\n  - s3://bucket/x.ogg\n"
    )
    checked = validate_manifest(path)
    assert checked.name is None
    found = checked.problems
    assert [(p.line, p.field) for p in found] == [(6, "jobs[1].audio")]
    assert "needs a local file" in found[0].message
    ok = write(audio_dir, "name: m\ndefaults:\n  api: asr_xml\njobs: [vm.wav]\n", "ok.yaml")
    checked, infos = probed(ok)
    assert checked.valid
    assert (checked.name, checked.jobs) == ("m", 1)
    assert infos[str(audio_dir / "vm.wav")].duration_s < 30


def test_jobs_come_one_by_one_and_the_problems_after_them(tmp_path: Path) -> None:
    folder = tmp_path / "calls"
    folder.mkdir()
    for index in range(50):
        (folder / f"c{index:02d}.wav").write_bytes(b"")  # not read: nothing is probed here
    path = write(
        tmp_path,
        "name: m\njobs:\n"
        "  - audio: calls\n"  # 3: fifty files
        "  - audio: missing-dir/*.wav\n"  # 4: matches nothing
        "  - audio: calls/c07.wav\n"  # 5: its output is taken by the directory's
        "    output: calls/c00\n",  # 6
    )
    reading = ManifestReading(path, None)
    assert reading.readable
    assert (reading.name, reading.problems) == ("m", [])
    jobs = reading.jobs()
    first = next(jobs)
    # One job read, the rest of the directory not yet, and no later entry looked at.
    assert (first.output, reading.count, reading.problems) == ("calls/c00", 1, [])
    assert sum(1 for _ in jobs) == 49
    assert [(p.line, p.field) for p in reading.problems] == [
        (4, "jobs[1].audio"),
        (6, "jobs[2].output"),
    ]
    assert reading.count == 50


def test_accepted_jobs_stop_at_the_first_problem_and_end_with_all_of_them(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "calls"
    folder.mkdir()
    for name in ("a.wav", "b.wav", "b.mp3", "c.wav"):
        (folder / name).write_bytes(b"")
    path = write(
        tmp_path,
        "name: m\njobs:\n"
        "  - audio: calls\n"  # 3: b.mp3 and b.wav both make calls/b
        "  - audio: nowhere.wav\n"  # 4: fine here (not probed)
        "  - audio: s3://bucket/*.wav\n",  # 5: no wildcards in s3://
    )
    reading = ManifestReading(path, None)
    taken: list[str] = []
    with pytest.raises(UserInputError) as info:
        taken.extend(job.output for job in reading.accepted_jobs())
    # Jobs went out until the duplicate was met; none after it, though more were read.
    assert taken == ["calls/a", "calls/b"]
    assert reading.count == 4  # the duplicate is no job
    assert [(p.line, p.field) for p in info.value.problems] == [
        (3, "jobs[0].audio"),
        (5, "jobs[2].audio"),
    ]
    assert "produced twice" in info.value.problems[0].message


@given(st.text(alphabet="ab./", max_size=12))
def test_output_paths_are_made_as_purepath_would(rel: str) -> None:
    # The fast string forms agree with PurePosixPath on every relative path.
    if rel.startswith("/"):
        return
    assert normal_output(rel) == str(PurePosixPath(rel))
    path = PurePosixPath(rel)
    expected = str(path.with_suffix("")) if path.suffix else str(path)
    assert strip_extension(rel) == expected


def test_a_home_directory_nobody_has_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    user = "~no-such-user-here"
    path = write(tmp_path, f"name: m\nbase_dir: {user}/x\njobs:\n  - {user}/a.ogg\n")
    found = problems(path)
    assert [(p.line, p.field) for p in found] == [(2, "base_dir"), (4, "jobs[0].audio")]
    assert all("no home directory" in p.message for p in found)


def test_the_folders_a_manifest_names(audio_dir: Path) -> None:
    text = (
        f"name: m\nbase_dir: {audio_dir}\njobs:\n  - calls/\n  - audio: 'podcasts/**/*.mp3'\n"
        "  - vm.wav\n  - s3://bucket/a.ogg\n"
    )
    reading = ManifestReading(write(audio_dir, text), None)
    assert reading.folders() == [audio_dir / "calls", audio_dir / "podcasts"]
    assert reading.names_folders
    files = f"name: m\nbase_dir: {audio_dir}\njobs:\n  - vm.wav\n  - s3://bucket/a.ogg\n"
    assert not ManifestReading(write(audio_dir, files), None).names_folders


def test_a_standing_manifests_folder_may_be_empty(audio_dir: Path) -> None:
    (audio_dir / "empty").mkdir()
    text = f"name: m\nbase_dir: {audio_dir}\njobs:\n  - empty/\n"
    assert "holds no file" in one(problems(write(audio_dir, text))).message
    standing = write(audio_dir, text.replace("jobs:", "watch: true\njobs:"))
    assert load_manifest(standing).jobs == ()
    assert ManifestReading(standing, None).standing


def test_watch_is_true_or_false(audio_dir: Path) -> None:
    text = f"name: m\nbase_dir: {audio_dir}\nwatch: 3\njobs:\n  - calls/\n"
    found = one(problems(write(audio_dir, text)))
    assert (found.field, found.message) == ("watch", "must be true or false, got an integer")


def test_a_problem_with_a_folders_file_names_the_folders_entry(audio_dir: Path) -> None:
    (audio_dir / "calls" / "bad.ogg").write_bytes(b"not audio at all")
    path = write(audio_dir, "name: m\njobs:\n  - vm.wav\n  - calls/\n")
    checked, _infos = probed(path)
    assert [(p.line, p.field) for p in checked.problems] == [(4, "jobs[1].audio")]
    assert "bad.ogg" in checked.problems[0].message


def test_bad_files_skip_warns_of_the_bad_files_unless_none_is_good(audio_dir: Path) -> None:
    (audio_dir / "bad.ogg").write_bytes(b"not audio at all")
    some = write(audio_dir, "name: m\nbad_files: skip\njobs:\n  - vm.wav\n  - bad.ogg\n")
    checked, _infos = probed(some)
    assert checked.valid
    assert (checked.skipped, [(w.line, w.field) for w in checked.warnings]) == (
        1,
        [(5, "jobs[1].audio")],
    )
    # A manifest of bad files only would run nothing: refused as with `refuse`.
    only = write(audio_dir, "name: m\nbad_files: skip\njobs:\n  - bad.ogg\n")
    checked, _infos = probed(only)
    assert [(p.line, p.field) for p in checked.problems] == [(4, "jobs[0].audio")]
    assert checked.warnings == []
    refused = write(audio_dir, "name: m\nbad_files: maybe\njobs:\n  - vm.wav\n")
    (problem,) = validate_manifest(refused).problems
    assert (problem.line, problem.field) == (2, "bad_files")
