"""A job's JSON output as rows, a row per utterance, and the three writers of the table."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from typing import Any

import pyarrow.parquet as pq
import pytest

from orchestrator.core.transcript import Transcript, Utterance, Word
from orchestrator.outputs.dataset import (
    COLUMNS,
    PARQUET_BATCH,
    JobOfRows,
    MissingExtra,
    open_writer,
    utterance_rows,
)
from orchestrator.outputs.render import render_json

JOB = JobOfRows(manifest="calls", job_id=7, source="/audio/call.wav", output="call")


def document() -> dict[str, Any]:
    """A stereo call's JSON output as the daemon renders it, channel 1 named."""
    transcript = Transcript(
        channels=(1, 2),
        utterances=(
            Utterance(
                1,
                "Hello there.",
                0.0,
                1.2,
                (Word("hello", 0.0, 0.5, 0.9), Word("there", 0.6, 1.2, 0.7)),
            ),
            Utterance(1, "Bye.", 1.2, 2.0, (Word("bye", 1.2, 2.0, 0.8),)),
            Utterance(2, 'Hi, "agent"', 0.5, 1.0, (Word("hi", 0.5, 0.7, None),)),
        ),
    )
    job = {"source": JOB.source, "settings": {}, "audio": {"duration_s": 2.0, "channels": 2}}
    rendered = render_json(transcript, job=job, names={1: "agent"})
    parsed: dict[str, Any] = json.loads(rendered)
    return parsed


def test_a_row_per_utterance_with_its_words_and_their_confidence() -> None:
    rows = list(utterance_rows(JOB, document()))
    assert [(r["channel"], r["utterance"], r["text"]) for r in rows] == [
        (1, 0, "Hello there."),
        (1, 1, "Bye."),
        (2, 0, 'Hi, "agent"'),
    ]
    first, second, third = rows
    assert first["manifest"] == "calls"
    assert first["job_id"] == 7
    assert (first["source"], first["output"]) == ("/audio/call.wav", "call")
    assert (first["channel_name"], third["channel_name"]) == ("agent", None)
    assert (first["start_s"], first["end_s"]) == (0.0, 1.2)
    # A word starting where its utterance starts is that utterance's, not the one before.
    assert [w["text"] for w in first["words"]] == ["hello", "there"]
    assert [w["text"] for w in second["words"]] == ["bye"]
    assert first["confidence_mean"] == pytest.approx(0.8)
    assert first["confidence_min"] == pytest.approx(0.7)
    # No confidence given: none made up.
    assert (third["confidence_mean"], third["confidence_min"]) == (None, None)
    assert all(list(row) == list(COLUMNS) for row in rows)


def test_no_timings_no_words_still_a_row() -> None:
    plain = {"channels": [{"channel": 1, "utterances": [{"text": "hi", "start": None}]}]}
    (row,) = utterance_rows(JOB, plain)
    assert (row["text"], row["start_s"], row["end_s"], row["words"]) == ("hi", None, None, [])
    assert row["confidence_mean"] is None
    assert list(utterance_rows(JOB, {})) == []


def write(fmt: str, rows: list[dict[str, Any]]) -> bytes:
    stream = io.BytesIO()
    writer = open_writer(fmt, stream)
    for row in rows:
        writer.write(row)
    writer.close()
    assert not stream.closed  # the stream is its owner's
    return stream.getvalue()


def test_json_lines_keep_the_words_as_a_list() -> None:
    rows = list(utterance_rows(JOB, document()))
    lines = write("jsonl", rows).decode("utf-8").splitlines()
    assert [json.loads(line) for line in lines] == rows


def test_csv_has_a_header_empty_nulls_and_the_words_as_json_text() -> None:
    rows = list(utterance_rows(JOB, document()))
    table = list(csv.reader(io.StringIO(write("csv", rows).decode("utf-8"), newline="")))
    assert table[0] == list(COLUMNS)
    assert len(table) == 1 + len(rows)
    third = dict(zip(COLUMNS, table[3], strict=True))
    assert third["text"] == 'Hi, "agent"'
    assert third["channel_name"] == ""
    assert third["confidence_mean"] == ""
    assert json.loads(third["words"]) == rows[2]["words"]


def test_parquet_in_row_groups_words_as_json_text() -> None:
    rows = list(utterance_rows(JOB, document())) * (PARQUET_BATCH // 3 + 1)
    data = write("parquet", rows)
    parquet = pq.ParquetFile(io.BytesIO(data))
    assert parquet.metadata.num_rows == len(rows)
    assert parquet.metadata.num_row_groups == 2  # a batch, then the rest
    table = parquet.read().to_pylist()
    assert table[0] == {**rows[0], "words": json.dumps(rows[0]["words"], separators=(",", ":"))}
    assert table[2]["confidence_mean"] is None


def test_parquet_without_pyarrow_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    # As if pyarrow were not installed: importing it fails.
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(MissingExtra, match=r"speechkit-orchestrator\[parquet\]"):
        open_writer("parquet", io.BytesIO())


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="allowed: jsonl, csv, parquet"):
        open_writer("xlsx", io.BytesIO())


def test_parquet_goes_down_a_pipe_too() -> None:
    # Standard output is often a pipe: nothing to seek back in.
    rows = list(utterance_rows(JOB, document()))
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb") as reading:
        with os.fdopen(write_end, "wb") as stream:
            writer = open_writer("parquet", stream)
            for row in rows:
                writer.write(row)
            writer.close()
        data = reading.read()
    assert pq.read_table(io.BytesIO(data)).num_rows == len(rows)
