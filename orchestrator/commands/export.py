"""``export MANIFEST``: a manifest's transcripts as one table, a row per utterance, for
pandas, DuckDB or a spreadsheet (JSON lines, CSV, or Parquet with the ``[parquet]``
extra), written as it is read from the store and the results."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import IO

from orchestrator.commands.common import add_config_argument, read_config
from orchestrator.config import Config
from orchestrator.core.destinations import destinations
from orchestrator.core.errors import Problem, UserInputError
from orchestrator.outputs.dataset import FORMATS, MissingExtra
from orchestrator.service.export import Exported, ResultsAt, atomic_file, export_rows, find_manifest
from orchestrator.storage.protocol import StorageError
from orchestrator.store import StoreError, open_store


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``export`` subcommand."""
    parser = sub.add_parser(
        "export",
        help="a manifest's transcripts as one table, a row per utterance (jsonl, csv, parquet)",
    )
    add_config_argument(parser)
    parser.add_argument("manifest", metavar="MANIFEST", help="the manifest's name")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="jsonl",
        help="jsonl (default), csv, or parquet (needs the [parquet] extra: pyarrow)",
    )
    parser.add_argument(
        "--output",
        "-o",
        type=Path,
        default=None,
        metavar="FILE",
        help="write the table to FILE, replaced once whole (default: standard output)",
    )
    parser.set_defaults(handler=run)


def _results_at(config: Config, args: argparse.Namespace) -> tuple[ResultsAt, Config]:
    """Where the JSON outputs are, and the config (with the storage's secrets when the
    outputs are objects only)."""
    where = destinations(config.outputs.s3_prefix, config.outputs.local)
    if not where.disk:
        config = read_config(args, resolve_state=True, quiet=True)
    return ResultsAt(where, config.paths.output), config


@asynccontextmanager
async def _target(output: Path | None) -> AsyncIterator[IO[bytes]]:
    if output is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
    else:
        async with atomic_file(output) as handle:
            yield handle


async def _export(args: argparse.Namespace) -> tuple[str, Exported]:
    config = read_config(args, resolve_secrets=False, resolve_state=True)
    where, config = _results_at(config, args)
    try:
        store = await open_store(config)
    except StoreError as exc:
        raise UserInputError([Problem(config.source, str(exc), field="state")]) from None
    try:
        manifest = find_manifest(await store.manifests(), args.manifest)
        if manifest is None:
            raise UserInputError(
                [Problem(store.description, f"no manifest named {args.manifest!r}")]
            )
        async with AsyncExitStack() as stack:
            if not where.destinations.disk:
                # Imported here: the disk's exports need no S3 client.
                from orchestrator.storage.factory import open_object_storage

                storage = await stack.enter_async_context(open_object_storage(config.storage))
                where = ResultsAt(where.destinations, where.output_root, storage)
            stream = await stack.enter_async_context(_target(args.output))
            done = await export_rows(store, manifest, where, args.format, stream)
        return manifest.name, done
    finally:
        await store.close()


def summary(name: str, done: Exported, output: Path | None) -> str:
    """The line said on stderr: what was exported where, and what was left out."""
    where = "standard output" if output is None else str(output)
    line = f"{name}: {done.rows} utterance(s) of {done.jobs} job(s) exported to {where}"
    if done.not_done:
        line += f"; {done.not_done} job(s) without a transcript (not done) left out"
    if done.missing:
        line += (
            f"; {done.missing} done job(s) without a JSON output left out "
            f"(the first: {done.first_missing})"
        )
    return line


def run(args: argparse.Namespace) -> int:
    """Write the manifest's dataset; say on stderr what was written and left out."""
    where = "standard output" if args.output is None else str(args.output)
    if args.format == "parquet" and args.output is None and sys.stdout.isatty():
        raise UserInputError([Problem(where, "parquet is binary: give --output FILE")])
    try:
        name, done = asyncio.run(_export(args))
    except MissingExtra as exc:
        raise UserInputError([Problem(args.format, str(exc))]) from None
    except OSError as exc:
        place = exc.filename if isinstance(exc.filename, str) else where
        raise UserInputError([Problem(place, exc.strerror or type(exc).__name__)]) from None
    except (StorageError, StoreError, ValueError) as exc:
        raise UserInputError([Problem(args.manifest, str(exc))]) from None
    print(summary(name, done, args.output), file=sys.stderr)
    return 0
