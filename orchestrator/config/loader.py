"""Reading the daemon's YAML config into ``config.schema``'s objects, every problem at once.

Each problem names the file, line and key; unknown keys get a "did you mean". This module
knows the file (its permissions; its sections and keys, as ``config.schema`` declares
them); ``config.sections`` reads each section's values.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from orchestrator.config.fields import secret_names, section_keys, sections
from orchestrator.config.schema import Config
from orchestrator.config.sections import SectionReader
from orchestrator.config.yamlfile import compose_file, compose_text
from orchestrator.config.yamlload import Reader, Section
from orchestrator.core.errors import Problem, UserInputError

# The file's sections and each one's keys, derived from the schema's declarations.
SECTIONS: dict[str, type[Any]] = {name: info.cls for name, info in sections(Config).items()}
_SECTION_KEYS = {name: section_keys(cls) for name, cls in SECTIONS.items()}
# Inline secret keys are recognised (to be rejected with a helpful message), not "unknown".
_INLINE_SECRETS = {name: secret_names(cls) for name, cls in SECTIONS.items()}


def _build(
    reader: Reader,
    root: yaml.Node | None,
    base_dir: Path,
    env: Mapping[str, str],
    resolve_secrets: bool,
    resolve_state: bool | None = None,
) -> Config:
    if root is None or reader.is_null(root):
        reader.problem(None, None, "config is empty (storage.bucket at least is required)")
        raise UserInputError(reader.problems)
    top = reader.section(root, "", SECTIONS, nullable=False)
    if top.node is None:
        raise UserInputError(reader.problems)
    top.reject_unknown()
    state = resolve_secrets if resolve_state is None else resolve_state
    loader = SectionReader(reader, base_dir, env, resolve_secrets, state)
    found: dict[str, Section] = {}
    for name in SECTIONS:
        sec = top.section(name, _SECTION_KEYS[name])
        sec.reject_unknown(_INLINE_SECRETS[name])
        found[name] = sec
    # Each section is read by the SectionReader method of its name.
    read: dict[str, Any] = {name: getattr(loader, name)(sec) for name, sec in found.items()}
    config = Config(
        **read,
        source=reader.file,
        base_dir=base_dir,
        secret_files=tuple(loader.secrets.files),
    )
    # Problems are sorted by line so the output reads top to bottom like the file.
    reader.problems.sort(key=lambda p: p.line or 0)
    reader.raise_if_problems()
    return dataclasses.replace(
        config, warnings=tuple(sorted(reader.warnings, key=lambda p: p.line or 0))
    )


def load_config(
    path: Path,
    env: Mapping[str, str] | None = None,
    *,
    resolve_secrets: bool = True,
    resolve_state: bool | None = None,
) -> Config:
    """Load and validate a config file; UserInputError lists every problem at once.

    ``resolve_secrets=False`` checks the secret references but reads no value (for commands,
    like ``plan``, that never talk to the service); ``resolve_state`` overrides it for the
    state store's password (``status``, ``retry`` and ``cancel`` open the store only).
    """
    reader = Reader(str(path))
    root, problem = compose_file(path)
    if problem is not None:
        raise UserInputError([problem])
    base_dir = path.resolve().parent
    with contextlib.suppress(OSError):
        if path.stat().st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            # Whoever may change the config decides where the credentials are sent.
            reader.warn(
                None,
                None,
                "writable by other users: whoever can change it can send the credentials "
                "elsewhere (chmod go-w)",
            )
    return _build(
        reader, root, base_dir, os.environ if env is None else env, resolve_secrets, resolve_state
    )


def config_from_mapping(
    data: Mapping[str, Any],
    *,
    source: str = "<mapping>",
    base_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    resolve_secrets: bool = True,
) -> Config:
    """Build a Config from a plain mapping (tests, the demo) with the same validation as a file.

    Problems name ``source`` instead of a file and carry no useful line numbers.
    """
    text = yaml.safe_dump(_plain(data), sort_keys=False)
    root, problem = compose_text(text, source)
    if problem is not None:
        raise UserInputError([problem])
    try:
        return _build(
            Reader(source),
            root,
            (base_dir or Path.cwd()).resolve(),
            os.environ if env is None else env,
            resolve_secrets,
        )
    except UserInputError as exc:
        # Lines would point into YAML the caller never saw.
        raise UserInputError(
            [Problem(p.file, p.message, field=p.field) for p in exc.problems]
        ) from None


def _plain(value: Any) -> Any:
    """Paths to strings, mappings to dicts, so a mapping can be dumped as YAML."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
