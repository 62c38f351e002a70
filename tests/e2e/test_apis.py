"""API v3 and the legacy asr_xml API through the daemon: the real CLI as a subprocess, the
emulator over real HTTP, moto's S3 server where the API needs one."""

from __future__ import annotations

import json
import re
from itertools import pairwise
from pathlib import Path

import pytest

from tests.conftest import S3Server
from tests.e2e.test_pipeline import check_speakers, s3_keys
from tests.support.daemon import emulated_daemon

pytestmark = pytest.mark.e2e

SPEAKER_LINE = re.compile(r"^Speaker [12]: \S")


@pytest.mark.wire
async def test_v3_channels_speakers_normalisation_and_deleted_results(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    # v3's status quota is per second of real time: the emulator counts a real second too,
    # so a single check over the limit would be a 429 (and a failure of this test).
    async with emulated_daemon(
        tmp_path,
        s3_server,
        s3_bucket,
        emulator_options={"v3_status_window_s": 1.0},
        speechkit={"delete_results_after_done": True},
    ) as (emu, env):
        audio = env.copy_audio(("call-stereo.ogg", "podcast-mono.mp3", "voicemail-mono.wav"))
        env.put_manifest(
            "v3",
            [
                {"audio": "call-stereo.ogg"},
                {"audio": "podcast-mono.mp3", "speaker_labeling": True, "language": "en-US"},
                {"audio": "voicemail-mono.wav", "language": ["ru-RU", "en-US"]},
            ],
            base_dir=audio,
            defaults={"api": "v3", "literature_text": True},
        )
        assert await env.run_until_idle() == 0
        stats = emu.stats()

    report = env.report("v3")
    assert report["counts"] == {"done": 3}
    assert {r["api"] for r in report["results"]} == {"v3"}
    operations = stats["operations"].values()
    assert len(operations) == 3
    assert all(op["api"] == "v3" and op["result_fetches"] == 1 for op in operations)
    # Asked to, the daemon deleted the results once the outputs were on disk.
    assert all(op["results_deleted"] for op in operations)
    assert len(env.events("results.deleted")) == 3
    # Its status checks and result fetches kept within v3's 5 a second: no 429.
    v3 = stats["quotas"]["v3_status"]
    assert v3["max_in_window"] <= 5
    assert v3["throttled"] == 0
    assert stats["quotas"]["status"]["accepted"] == 0  # v2's quota untouched

    folder = env.results / "v3"
    stereo = json.loads((folder / "call-stereo.json").read_text("utf-8"))
    assert [c["channel"] for c in stereo["channels"]] == [1, 2]
    assert stereo["speakers"] == []
    # Normalised (literature text on): every utterance a sentence.
    assert all(u["text"].endswith(".") for c in stereo["channels"] for u in c["utterances"])
    assert (folder / "call-stereo.ch1.txt").read_text("utf-8").strip()

    labelled = json.loads((folder / "podcast-mono.json").read_text("utf-8"))
    assert labelled["speakers"] == ["Speaker 1", "Speaker 2"]
    (channel,) = labelled["channels"]
    assert {u["speaker"] for u in channel["utterances"]} == {"Speaker 1", "Speaker 2"}
    assert all(w["speaker"] in ("Speaker 1", "Speaker 2") for w in channel["words"])
    txt = (folder / "podcast-mono.txt").read_text("utf-8").splitlines()
    assert txt
    assert all(SPEAKER_LINE.match(line) for line in txt)
    # One line per turn: two lines in a row never have the same speaker.
    speakers = [line.split(":")[0] for line in txt]
    assert all(a != b for a, b in pairwise(speakers))
    check_speakers(folder, "podcast-mono", ("Speaker 1", "Speaker 2"))
    # Nothing uploaded is left behind.
    assert s3_keys(s3_server, s3_bucket) == []


async def test_asr_xml_streams_the_file_and_writes_json_and_txt_only(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulated_daemon(
        tmp_path, s3_server, s3_bucket, concurrency={"asr_xml_requests": 1}
    ) as (emu, env):
        names = ("greeting-mono.ogg", "podcast-mono.mp3", "voicemail-mono.wav", "call-stereo.ogg")
        audio = env.copy_audio(names)
        env.put_manifest(
            "legacy",
            [{"audio": name} for name in names],
            base_dir=audio,
            defaults={"api": "asr_xml", "model": "queries", "language": "en-US"},
        )
        assert await env.run_until_idle() == 0
        stats = emu.stats()

    report = env.report("legacy")
    assert report["counts"] == {"done": 4}
    assert report["submissions"] == 4
    assert report["status_checks"] == 0  # synchronous: nothing to poll
    assert {j["api"] for j in report["without_subtitles"]} == {"asr_xml"}
    assert len(report["without_subtitles"]) == 4
    text = (env.results / "legacy" / "report.txt").read_text("utf-8")
    assert "srt/vtt are not available: api asr_xml gives no timings" in text

    calls = stats["asr_xml"]["calls"]
    assert len(calls) == 4
    assert all(c["chunked"] and c["success"] for c in calls)
    # Each file whole (a WAV with its header), with the Content-Type of its real format.
    expected = {
        (audio / "greeting-mono.ogg").stat().st_size: "audio/ogg;codecs=opus",
        (audio / "call-stereo.ogg").stat().st_size: "audio/ogg;codecs=opus",
        (audio / "podcast-mono.mp3").stat().st_size: "audio/x-mpeg-3",
        (audio / "voicemail-mono.wav").stat().st_size: "audio/x-wav",
    }
    assert {c["bytes"]: c["content_type"] for c in calls} == expected
    # One uuid for the installation, made once and kept.
    assert len({c["uuid"] for c in calls}) == 1
    # concurrency.asr_xml_requests: 1, so no two requests were ever answered at once.
    spans = sorted((c["received_at"], c["answered_at"]) for c in calls)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in pairwise(spans))
    # No object storage involved.
    assert s3_keys(s3_server, s3_bucket) == []
    assert not env.events("upload.done")
    assert stats["summary"]["operations"] == 0

    folder = env.results / "legacy"
    for name in names:
        stem = Path(name).stem
        written = sorted(p.name for p in folder.glob(f"{stem}.*"))
        assert written == [f"{stem}.json", f"{stem}.txt"]  # stereo heard as one channel
        document = json.loads((folder / f"{stem}.json").read_text("utf-8"))
        assert document["timings"] is False
        (channel,) = document["channels"]
        assert channel["text"]
        assert channel["words"] == []
        assert channel["utterances"][0]["start"] is None
        variants = document["raw"]["variants"]
        assert variants[0]["text"] == channel["text"]


async def test_one_job_of_each_api_in_one_manifest(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulated_daemon(
        tmp_path, s3_server, s3_bucket, emulator_options={"v3_status_window_s": 1.0}
    ) as (emu, env):
        audio = env.copy_audio(("greeting-mono.ogg",))
        env.put_manifest(
            "each",
            [
                {"audio": "greeting-mono.ogg", "output": "v2"},
                {"audio": "greeting-mono.ogg", "output": "v3", "api": "v3"},
                {"audio": "greeting-mono.ogg", "output": "legacy", "api": "asr_xml"},
            ],
            base_dir=audio,
        )
        assert await env.run_until_idle() == 0
        stats = emu.stats()
    report = env.report("each")
    assert report["counts"] == {"done": 3}
    assert {r["output"]: r["api"] for r in report["results"]} == {
        "v2": "v2",
        "v3": "v3",
        "legacy": "asr_xml",
    }
    # The same audio, three APIs: three recognitions (the settings key tells them apart).
    assert {op["api"] for op in stats["operations"].values()} == {"v2", "v3"}
    assert len(stats["asr_xml"]["calls"]) == 1
    # v2 and v3 shared the one uploaded object.
    assert len(env.events("upload.done")) == 1
