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

# Each subcommand and its module; order is the order of `--help`.
COMMANDS = {
    "run": "orchestrator.commands.run",
    "submit": "orchestrator.commands.submit",
    "status": "orchestrator.commands.status",
    "retry": "orchestrator.commands.retry",
    "cancel": "orchestrator.commands.cancel",
    "close": "orchestrator.commands.close",
    "export": "orchestrator.commands.export",
    "migrate": "orchestrator.commands.migrate",
    "migrate-state": "orchestrator.commands.migrate_state",
    "validate": "orchestrator.commands.validate",
    "plan": "orchestrator.commands.plan",
    "probe": "orchestrator.commands.probe",
    "emulator": "orchestrator.emulator.cli",
    "demo": "orchestrator.commands.demo",
    "sandbox": "orchestrator.commands.sandbox",
}

Handler = Callable[[argparse.Namespace], int]


class _CommandModule(Protocol):
    def register(self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None: ...


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with every subcommand, or with the subcommand ``only`` alone
    (a command imports its own modules only: `status` does not load the daemon)."""
    parser = argparse.ArgumentParser(
        prog="speechkit-orchestrator",
        description="Transcribe batches of audio through Yandex SpeechKit, under the quotas.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command, name in COMMANDS.items():
        if only is not None and command != only:
            continue
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
    given = list(sys.argv[1:] if argv is None else argv)
    # The subcommand comes first (the options before it are --help and --version): a known
    # one gets a parser of its own; anything else the full parser, to list the choices.
    first = next((arg for arg in given if not arg.startswith("-")), None)
    parser = build_parser(first if first in COMMANDS and given[0] == first else None)
    args = parser.parse_args(given)
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
