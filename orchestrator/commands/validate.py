"""``speechkit-orchestrator validate MANIFEST...``: check manifests and their audio, offline."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from orchestrator.commands.common import add_manifests_arguments, print_warnings
from orchestrator.config import load_config
from orchestrator.core.hooks import HookPolicy
from orchestrator.intake.jobspec import JobSpec
from orchestrator.intake.manifest import Validation, validate_manifest
from orchestrator.intake.on_finish import refusals
from orchestrator.intake.preparation import Preparation
from orchestrator.intake.roots import InputRoots


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``validate`` subcommand."""
    parser = subparsers.add_parser(
        "validate",
        help="check manifests and their audio without touching the network",
        description=(
            "Check job manifests: YAML structure, settings, paths and every local audio file. "
            "Prints every problem as 'error: FILE:LINE: field: message'. "
            "Exit status 0 when all are valid, 2 when not."
        ),
    )
    add_manifests_arguments(
        parser,
        "the daemon's config: also refuse audio outside its paths.input_roots, and "
        "completion hooks (on_finish) it does not allow",
    )
    parser.set_defaults(handler=run)


# What is done to the files is said file by file up to this many per manifest, then counted.
SAID_PER_MANIFEST = 20


class Said:
    """What will be done to each file that is not sent as it is, as validation finds it."""

    def __init__(self, manifest: Path) -> None:
        self.manifest = manifest
        self.lines: list[dict[str, object]] = []
        self.parts = 0

    def __call__(self, job: JobSpec, prepared: Preparation | None) -> None:
        said = None if prepared is None else prepared.describe()
        if prepared is None or said is None:
            return
        self.parts += prepared.parts if prepared.split else 0
        self.lines.append({"line": job.line, "audio": job.source, "done": said})

    def print(self) -> None:
        """A line per file (the first few), then how many are converted and split."""
        for item in self.lines[:SAID_PER_MANIFEST]:
            print(f"  {self.manifest}:{item['line']}: {item['audio']}: {item['done']}")
        if len(self.lines) > SAID_PER_MANIFEST:
            print(f"  ... and {len(self.lines) - SAID_PER_MANIFEST} more file(s) like these")


def skipped(found: Validation) -> str:
    """What ``ok:`` adds for a manifest whose bad files are skipped."""
    if not found.skipped:
        return ""
    return f" ({found.skipped} bad file(s) skipped: the daemon fails them)"


def run(args: argparse.Namespace) -> int:
    """Validate every manifest named; 0 when all are valid, 2 when any is not."""
    reports: list[dict[str, object]] = []
    all_valid = True
    problem_count = bad = 0
    roots = None
    policy: HookPolicy | None = None
    max_part_s = None
    if args.config is not None:
        # Checked as the daemon would: no secret is read, the input roots are applied.
        config = load_config(args.config, resolve_secrets=False)
        print_warnings(config)
        roots = InputRoots.of(config)
        policy = config.hooks.policy
        max_part_s = config.audio.max_part_s
    for path in args.manifests:
        said = Said(path)
        found = validate_manifest(path, roots, said, max_part_s=max_part_s)
        problems = found.problems
        if policy is not None:
            problems = [*problems, *refusals(path, found.on_finish, policy)]
        valid = found.valid and not problems  # refused hooks too
        all_valid = all_valid and valid
        problem_count += len(problems)
        bad += 0 if valid else 1
        reports.append(
            {
                "file": str(path),
                "name": found.name,
                "valid": valid,
                "jobs": None if found.name is None else found.jobs,
                "problems": [p.as_dict() for p in problems],
                "warnings": [w.as_dict() for w in found.warnings],
                "skipped": found.skipped,
                "prepared": said.lines,
            }
        )
        if args.json:
            continue
        if valid:
            print(f"ok: {path}: {found.name}: {found.jobs} jobs{skipped(found)}")
            said.print()
        for warning in found.warnings:
            print(f"warning: {warning} (bad_files: skip)", file=sys.stderr)
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
    if args.json:
        json.dump({"valid": all_valid, "manifests": reports}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif not all_valid:
        print(f"{problem_count} problem(s) in {bad} of {len(reports)} manifest(s)", file=sys.stderr)
    return 0 if all_valid else 2
