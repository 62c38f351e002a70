"""A manifest's transcripts as one table, a row per utterance, written as it is read: JSON
lines, CSV or Parquet (through pyarrow, the ``[parquet]`` extra).

The rows come from the jobs' JSON outputs, one document at a time, so a table of any size
is written in bounded memory: each writer keeps at most one batch of rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any, Protocol

from orchestrator.core import jsontext

FORMATS = ("jsonl", "csv", "parquet")
# The columns, in order; ``words`` is a JSON list in JSON lines and a JSON text elsewhere.
# Times are ``start_s`` and ``end_s``: ``end`` is a keyword of SQL, and the unit is said.
COLUMNS = (
    "manifest",
    "job_id",
    "source",
    "output",
    "channel",
    "channel_name",
    "speaker",
    "utterance",
    "start_s",
    "end_s",
    "text",
    "confidence_mean",
    "confidence_min",
    "words",
)
# A word is the utterance's when it starts before the next utterance does (times are
# rounded to milliseconds in the JSON: half of one is the tolerance).
_TOLERANCE_S = 0.0005
# Rows a Parquet writer gathers before it writes them out as one row group.
PARQUET_BATCH = 10_000


class MissingExtra(Exception):
    """A format needs a package that is not installed (an optional extra)."""


@dataclass(frozen=True)
class JobOfRows:
    """What a job's rows say of it beside its transcript."""

    manifest: str
    job_id: int
    source: str
    output: str


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _words_of(utterances: Sequence[Mapping[str, Any]], words: Sequence[Any]) -> list[list[Any]]:
    """The channel's words split among its utterances, in order: a word goes to the last
    utterance that starts at or before it (the JSON lists a channel's words apart)."""
    split: list[list[Any]] = [[] for _ in utterances]
    if not utterances:
        return split
    index = 0
    for word in words:
        start = _number(word.get("start")) if isinstance(word, Mapping) else None
        while (
            start is not None
            and index + 1 < len(utterances)
            and (begins := _number(utterances[index + 1].get("start"))) is not None
            and start >= begins - _TOLERANCE_S
        ):
            index += 1
        split[index].append(word)
    return split


def _confidences(words: Sequence[Any]) -> tuple[float | None, float | None]:
    """The mean and the least of the words' confidences (None when no word has one)."""
    found = [
        c
        for c in (_number(w.get("confidence")) for w in words if isinstance(w, Mapping))
        if c is not None
    ]
    if not found:
        return None, None
    return round(sum(found) / len(found), 6), min(found)


def utterance_rows(job: JobOfRows, document: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """A row per utterance of one job's JSON output, channel by channel, in order."""
    for channel in document.get("channels") or ():
        utterances = [u for u in channel.get("utterances") or () if isinstance(u, Mapping)]
        words = _words_of(utterances, channel.get("words") or ())
        for number, (utterance, said) in enumerate(zip(utterances, words, strict=True)):
            mean, least = _confidences(said)
            yield {
                "manifest": job.manifest,
                "job_id": job.job_id,
                "source": job.source,
                "output": job.output,
                "channel": channel.get("channel"),
                "channel_name": channel.get("name"),
                "speaker": utterance.get("speaker"),
                "utterance": number,
                "start_s": _number(utterance.get("start")),
                "end_s": _number(utterance.get("end")),
                "text": utterance.get("text", ""),
                "confidence_mean": mean,
                "confidence_min": least,
                "words": said,
            }


class DatasetWriter(Protocol):
    """Rows in, a table out; ``close`` finishes the table (it does not close the stream)."""

    def write(self, row: Mapping[str, Any]) -> None:
        """Add one row (the keys of ``COLUMNS``)."""
        ...

    def close(self) -> None:
        """Write what is left and the table's end."""
        ...


class JsonLinesWriter:
    """A JSON document a line, ``words`` as a list of word objects."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream

    def write(self, row: Mapping[str, Any]) -> None:
        """Add one row."""
        self.stream.write(jsontext.dumps({key: row[key] for key in COLUMNS}).encode("utf-8"))
        self.stream.write(b"\n")

    def close(self) -> None:
        """Nothing to end: every line is whole."""
        self.stream.flush()


class CsvWriter:
    """RFC 4180 CSV in UTF-8 with a header line; empty for null, ``words`` as JSON text."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.text = io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=True)
        self.rows = csv.writer(self.text)
        self.rows.writerow(COLUMNS)

    def write(self, row: Mapping[str, Any]) -> None:
        """Add one row."""
        self.rows.writerow(
            [jsontext.dumps(row[key]) if key == "words" else row[key] for key in COLUMNS]
        )

    def close(self) -> None:
        """Flush, and leave the byte stream open to its owner."""
        self.text.flush()
        self.text.detach()


class ParquetWriter:
    """Parquet through pyarrow, a row group per ``PARQUET_BATCH`` rows; ``words`` as JSON
    text (a column every reader takes)."""

    def __init__(self, stream: IO[bytes]) -> None:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise MissingExtra(
                "parquet needs pyarrow: pip install 'speechkit-orchestrator[parquet]'"
            ) from None
        self.pa = pa
        self.schema = pa.schema(
            [
                ("manifest", pa.string()),
                ("job_id", pa.int64()),
                ("source", pa.string()),
                ("output", pa.string()),
                ("channel", pa.int32()),
                ("channel_name", pa.string()),
                ("speaker", pa.string()),
                ("utterance", pa.int32()),
                ("start_s", pa.float64()),
                ("end_s", pa.float64()),
                ("text", pa.string()),
                ("confidence_mean", pa.float64()),
                ("confidence_min", pa.float64()),
                ("words", pa.string()),
            ]
        )
        self.writer = pq.ParquetWriter(stream, self.schema)
        self.batch: dict[str, list[Any]] = {key: [] for key in COLUMNS}

    def write(self, row: Mapping[str, Any]) -> None:
        """Add one row (written out with its batch)."""
        for key in COLUMNS:
            value = row[key]
            self.batch[key].append(jsontext.dumps(value) if key == "words" else value)
        if len(self.batch["job_id"]) >= PARQUET_BATCH:
            self._flush()

    def _flush(self) -> None:
        if self.batch["job_id"]:
            table = self.pa.Table.from_pydict(self.batch, schema=self.schema)
            self.writer.write_table(table)
            self.batch = {key: [] for key in COLUMNS}

    def close(self) -> None:
        """Write the last batch and the file's footer."""
        self._flush()
        self.writer.close()


def open_writer(fmt: str, stream: IO[bytes]) -> DatasetWriter:
    """The writer of ``fmt`` (one of ``FORMATS``) onto ``stream``; MissingExtra when the
    format needs a package that is not installed."""
    if fmt == "jsonl":
        return JsonLinesWriter(stream)
    if fmt == "csv":
        return CsvWriter(stream)
    if fmt == "parquet":
        return ParquetWriter(stream)
    raise ValueError(f"unknown dataset format {fmt!r}; allowed: {', '.join(FORMATS)}")
