"""``submit``: validate manifests and hand them to the daemon's inbox, safely."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import yaml

from orchestrator.commands.common import add_config_argument, read_config
from orchestrator.core.errors import UserInputError
from orchestrator.intake.manifest import validate_manifest
from orchestrator.intake.roots import InputRoots
from orchestrator.outputs.files import TEMP_SUFFIX, temp_prefix, unique_destination


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``submit`` subcommand."""
    parser = sub.add_parser(
        "submit",
        help="validate manifests and put them in the daemon's inbox",
        description="Validate each manifest, then place it in the inbox with an atomic rename, "
        "so a running daemon never reads half a file and a stopped one finds it at start. "
        "Relative audio paths keep pointing where they did (base_dir is recorded).",
    )
    add_config_argument(parser)
    parser.add_argument("manifests", nargs="+", type=Path, metavar="MANIFEST")
    parser.set_defaults(handler=run)


def with_base_dir(text: str, manifest: Path) -> str:
    """The manifest's text with ``base_dir`` set to its directory when it has none.

    The key is appended, so line numbers in later messages still match the user's file.
    """
    data = yaml.safe_load(text)
    if isinstance(data, dict) and "base_dir" in data:
        base = Path(str(data["base_dir"]))
        if base.is_absolute():
            return text
        resolved = (manifest.resolve().parent / base).resolve()
        data["base_dir"] = str(resolved)
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    separator = "" if text.endswith("\n") else "\n"
    quoted = json.dumps(str(manifest.resolve().parent))  # a JSON string is a YAML scalar
    return f"{text}{separator}base_dir: {quoted}\n"


def place(inbox: Path, manifest: Path, text: str) -> Path:
    """Write ``text`` to the inbox under the manifest's name: temporary file, then rename."""
    inbox.mkdir(parents=True, exist_ok=True)
    target = unique_destination(inbox, manifest.name)
    fd, tmp = tempfile.mkstemp(dir=inbox, prefix=temp_prefix(target.name), suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def run(args: argparse.Namespace) -> int:
    """Validate every manifest first; place them only if all are valid."""
    config = read_config(args, resolve_secrets=False)
    roots = InputRoots.of(config)
    problems = []
    for path in args.manifests:
        # The daemon checks the roots again when it takes the manifest: this is a courtesy.
        problems.extend(validate_manifest(path, roots).problems)
    if problems:
        raise UserInputError(problems)
    for path in args.manifests:
        text = path.read_text("utf-8")
        target = place(config.paths.inbox, path, with_base_dir(text, path))
        print(f"submitted {path} -> {target}")
    return 0
