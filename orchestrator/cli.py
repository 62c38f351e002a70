"""The command line: ``speechkit-orchestrator SUBCOMMAND ...``.

Each subcommand lives in its own module and registers itself; this module only
dispatches and turns bad input into one-line errors instead of tracebacks.
"""

from __future__ import annotations

import argparse
import importlib
import io
import sys
from collections.abc import Callable, Sequence
from typing import Protocol

from orchestrator import __version__
from orchestrator.core.errors import UserInputError

# Order is the order of `--help`.
COMMAND_MODULES = (
    "orchestrator.commands.run",
    "orchestrator.commands.submit",
    "orchestrator.commands.status",
    "orchestrator.commands.retry",
    "orchestrator.commands.cancel",
    "orchestrator.commands.migrate_state",
    "orchestrator.commands.validate",
    "orchestrator.commands.plan",
    "orchestrator.emulator.cli",
    "orchestrator.commands.demo",
)

Handler = Callable[[argparse.Namespace], int]


class _CommandModule(Protocol):
    def register(self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None: ...


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="speechkit-orchestrator",
        description="Transcribe batches of audio through Yandex SpeechKit, under the quotas.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        # Imported here, one by one, so that `--help` costs only what it shows.
        module: _CommandModule = importlib.import_module(name)
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit status."""
    # A path that is not UTF-8 (from argv or a directory) must not stop a report half way.
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except UserInputError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
