"""``export`` of the demo's manifest through the real CLI, after the real daemon ran it
against the emulator: every format, loaded as an analyst would (DuckDB and pandas); and a
manifest asking for its dataset gets it beside its report."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
import yaml

from tests.conftest import S3Server
from tests.e2e.test_pipeline import s3_keys
from tests.support.daemon import REPO, DaemonEnv, emulated_daemon

pytestmark = pytest.mark.e2e

DEMO = REPO / "examples" / "manifests" / "demo.yaml"


def demo_jobs() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The demo manifest's jobs and defaults, as the file has them."""
    document = yaml.safe_load(DEMO.read_text("utf-8"))
    return document["jobs"], document["defaults"]


async def run_demo(env: DaemonEnv, **defaults: Any) -> None:
    jobs, given = demo_jobs()
    env.put_manifest("demo", jobs, base_dir=env.copy_audio(), defaults={**given, **defaults})
    assert await env.run_until_idle() == 0


def check_table(frame: pd.DataFrame) -> None:
    """The demo's rows: every job, each channel named, speakers, times."""
    assert set(frame["output"]) == {
        "greetings/hello",
        "call-stereo",
        "podcast-mono",
        "meeting-stereo",
        "voicemail-mono",
        "interview-stereo",
    }
    assert (frame["text"].str.len() > 0).all()
    call = frame[frame["output"] == "call-stereo"]
    assert set(call["channel_name"]) == {"agent", "customer"}
    assert set(call["channel"]) == {1, 2}
    podcast = frame[frame["output"] == "podcast-mono"]
    assert podcast["speaker"].str.startswith("Speaker ").all()
    # asr_xml gives no timings: its rows have none; the others have start <= end.
    voicemail = frame[frame["output"] == "voicemail-mono"]
    assert voicemail["start_s"].isna().all()
    timed = frame[frame["output"] != "voicemail-mono"]
    assert (timed["start_s"] <= timed["end_s"]).all()
    # No API of the demo gives words a confidence (v2 documents it as unsupported): none
    # is made up.
    assert frame["confidence_mean"].isna().all()
    assert frame["confidence_min"].isna().all()


async def test_the_demo_exported_and_loaded_by_duckdb_and_pandas(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulated_daemon(tmp_path, s3_server, s3_bucket) as (_emu, env):
        await run_demo(env)
        jsonl = await env.cli("export", "demo", "--format", "jsonl")
        for fmt in ("csv", "parquet"):
            result = await env.cli(
                "export", "demo", "--format", fmt, "--output", str(tmp_path / f"demo.{fmt}")
            )
            assert result.returncode == 0, result.stderr
        broken = env.results / "demo" / "meeting-stereo.json"
        broken.write_text("{half", "utf-8")
        refused = await env.cli("export", "demo", "--output", str(tmp_path / "demo.csv"))
    assert refused.returncode == 2
    assert refused.stderr == f"error: demo: {broken}: not a JSON document\n"
    assert jsonl.returncode == 0, jsonl.stderr
    assert jsonl.stderr.startswith("demo: ")
    assert "6 job(s) exported to standard output" in jsonl.stderr
    (tmp_path / "demo.jsonl").write_text(jsonl.stdout, "utf-8")

    frames = {
        "jsonl": pd.read_json(tmp_path / "demo.jsonl", lines=True),
        "csv": pd.read_csv(tmp_path / "demo.csv"),
        "parquet": pd.read_parquet(tmp_path / "demo.parquet"),
    }
    for frame in frames.values():
        check_table(frame)
    assert len(frames["csv"]) == len(frames["jsonl"]) == len(frames["parquet"])
    assert isinstance(frames["jsonl"]["words"][0], list)
    # (pandas' own JSON reader rounds floats: the line is read as it is.)
    first = json.loads(jsonl.stdout.splitlines()[0])
    assert json.loads(frames["csv"]["words"][0]) == first["words"]
    # The reference's example, as written there.
    example = (
        "SELECT channel_name, count(*), sum(end_s - start_s) "
        f"FROM '{tmp_path / 'demo.parquet'}' GROUP BY 1"
    )
    by_name = {row[0]: row[1] for row in duckdb.execute(example).fetchall()}
    assert by_name["agent"] == len(frames["parquet"].query("channel_name == 'agent'"))
    reader = {"jsonl": "read_json_auto", "csv": "read_csv_auto", "parquet": "read_parquet"}
    words = {}
    for fmt, read in reader.items():
        # The words: a list in JSON lines, JSON text in the others; DuckDB reads them all.
        count = "len(words)" if fmt == "jsonl" else "json_array_length(words)"
        query = (
            f"SELECT output, count(*), sum({count}) "
            f"FROM {read}('{tmp_path / f'demo.{fmt}'}') GROUP BY output ORDER BY output"
        )
        found = duckdb.execute(query).fetchall()
        assert [row[0] for row in found] == sorted(frames[fmt]["output"].unique())
        assert sum(row[1] for row in found) == len(frames[fmt])
        words[fmt] = {row[0]: row[2] for row in found}
    assert words["jsonl"] == words["csv"] == words["parquet"]
    assert words["jsonl"]["greetings/hello"] > 0
    assert not words["jsonl"]["voicemail-mono"]  # asr_xml gives no words


async def test_a_manifest_asking_for_its_dataset_gets_it_at_the_end(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulated_daemon(tmp_path, s3_server, s3_bucket) as (_emu, env):
        await run_demo(env, outputs=["json", "txt", "dataset"])
        unknown = await env.cli("export", "nothing")
    folder = env.results / "demo"
    frame = pd.read_json(folder / "dataset.jsonl", lines=True)
    # The call sets its own outputs (with json, without dataset): still in the dataset.
    check_table(frame)
    report = env.report("demo")
    assert report["dataset"]["rows"] == len(frame)
    assert report["dataset"]["jobs"] == 6
    (event,) = env.events("manifest.dataset")
    assert event["file"] == str(folder / "dataset.jsonl")
    assert not (folder / "greetings" / "hello.dataset").exists()
    assert unknown.returncode == 2
    assert unknown.stderr.strip().endswith("no manifest named 'nothing'")
    assert len(unknown.stderr.splitlines()) == 1


async def test_parquet_without_pyarrow_names_the_extra(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    # A pyarrow that cannot be imported, first on the path: as if it were not installed.
    blocker = tmp_path / "blocked" / "pyarrow"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('not installed')\n", "utf-8")
    async with emulated_daemon(tmp_path, s3_server, s3_bucket) as (_emu, env):
        env.env["PYTHONPATH"] = os.pathsep.join((str(blocker.parent), env.env["PYTHONPATH"]))
        await run_demo(env)
        result = await env.cli(
            "export", "demo", "--format", "parquet", "--output", str(tmp_path / "d.parquet")
        )
    assert result.returncode == 2
    assert result.stderr == (
        "error: parquet: parquet needs pyarrow: pip install 'speechkit-orchestrator[parquet]'\n"
    )
    assert not (tmp_path / "d.parquet").exists()


async def test_outputs_only_in_object_storage_are_read_from_there(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulated_daemon(
        tmp_path, s3_server, s3_bucket, outputs={"s3_prefix": "transcripts/", "local": False}
    ) as (_emu, env):
        await run_demo(env, outputs=["json", "dataset"])
        result = await env.cli("export", "demo", "--output", str(tmp_path / "demo.jsonl"))
    assert result.returncode == 0, result.stderr
    assert not (env.results / "demo").exists()  # no files: the objects are all there is
    check_table(pd.read_json(tmp_path / "demo.jsonl", lines=True))
    # The manifest's own dataset went where its results go, before its report.
    assert "transcripts/demo/dataset.jsonl" in s3_keys(s3_server, s3_bucket)
    body = s3_server.client().get_object(Bucket=s3_bucket, Key="transcripts/demo/dataset.jsonl")  # type: ignore[attr-defined]
    exported = (tmp_path / "demo.jsonl").read_bytes()
    assert body["Body"].read() == exported
    (event,) = env.events("manifest.dataset")
    assert event["object"] == f"s3://{s3_bucket}/transcripts/demo/dataset.jsonl"


def test_parquet_is_not_written_to_a_terminal(tmp_path: Path) -> None:
    main, terminal = pty.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "orchestrator", "export", "demo", "--format", "parquet"],
            stdout=terminal,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
            cwd=tmp_path,
        )
    finally:
        os.close(terminal)
        os.close(main)
    assert result.returncode == 2
    assert result.stderr == "error: standard output: parquet is binary: give --output FILE\n"
