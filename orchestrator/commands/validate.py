"""``speechkit-orchestrator validate MANIFEST...``: check manifests and their audio, offline."""

from __future__ import annotations

import argparse
import json
import sys

from orchestrator.commands.common import add_manifests_arguments, print_warnings
from orchestrator.config import load_config
from orchestrator.core.hooks import HookPolicy
from orchestrator.intake.manifest import validate_manifest
from orchestrator.intake.on_finish import refusals
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


def run(args: argparse.Namespace) -> int:
    """Validate every manifest named; 0 when all are valid, 2 when any is not."""
    reports: list[dict[str, object]] = []
    all_valid = True
    problem_count = bad = 0
    roots = None
    policy: HookPolicy | None = None
    if args.config is not None:
        # Checked as the daemon would: no secret is read, the input roots are applied.
        config = load_config(args.config, resolve_secrets=False)
        print_warnings(config)
        roots = InputRoots.of(config)
        policy = config.hooks.policy
    for path in args.manifests:
        found = validate_manifest(path, roots)
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
            }
        )
        if args.json:
            continue
        if valid:
            print(f"ok: {path}: {found.name}: {found.jobs} jobs")
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
    if args.json:
        json.dump({"valid": all_valid, "manifests": reports}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif not all_valid:
        print(f"{problem_count} problem(s) in {bad} of {len(reports)} manifest(s)", file=sys.stderr)
    return 0 if all_valid else 2
