"""Reading the daemon's YAML config into ``config.schema``'s objects, every problem at once.

Each problem names the file, line and key; unknown keys get a "did you mean". This module
knows the file (its sections and keys, its permissions); ``config.sections`` reads each
section's values.
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

from orchestrator.config.hooks import HOOKS_KEYS
from orchestrator.config.schema import Config
from orchestrator.config.secrets import secret_keys
from orchestrator.config.sections import SPEECHKIT_KEYS, STORAGE_KEYS, SectionReader
from orchestrator.config.yamlfile import compose_file, compose_text
from orchestrator.config.yamlload import Reader, Section
from orchestrator.core.errors import Problem, UserInputError

SECTIONS = (
    "speechkit",
    "storage",
    "quotas",
    "concurrency",
    "paths",
    "retry",
    "polling",
    "logging",
    "status",
    "service",
    "state",
    "outputs",
    "hooks",
)


_SECTION_KEYS: dict[str, tuple[str, ...]] = {
    "speechkit": SPEECHKIT_KEYS,
    "storage": STORAGE_KEYS,
    "quotas": (
        "submissions",
        "status_checks",
        "window_s",
        "audio_hours_per_day",
        "safety_margin",
        "window_margin_s",
        "v3_status_checks_per_second",
        "asr_xml_requests_per_second",
        "rates",
    ),
    "concurrency": (
        "uploads",
        "operations_in_flight",
        "fetches",
        "upload_ahead",
        "asr_xml_requests",
        "requests",
    ),
    "paths": ("state_file", "inbox", "processed", "failed", "output", "input_roots"),
    "retry": ("max_attempts", "base_delay_s", "max_delay_s"),
    "polling": (
        "initial_ratio",
        "quantile",
        "growth",
        "min_interval_s",
        "max_interval_s",
        "deferred_max_interval_s",
        "checks_per_job",
        "check_reserve",
        "timestamp_resolution_s",
    ),
    "logging": ("format", "level"),
    "status": ("listen_host", "listen_port"),
    "service": ("drain_timeout_s", "watchdog", "node", "lease_s"),
    "state": ("url", *secret_keys("password")),
    "outputs": ("s3_prefix", "local"),
    "hooks": HOOKS_KEYS,
}
# Inline secret keys are recognised (to be rejected with a helpful message), not "unknown".
_INLINE_SECRETS = {
    "speechkit": ("api_key", "iam_token"),
    "storage": ("access_key_id", "secret_access_key"),
    "state": ("password",),
    "hooks": ("secret",),
}


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
    sections: dict[str, Section] = {}
    for name in SECTIONS:
        sec = top.section(name, _SECTION_KEYS[name])
        sec.reject_unknown(_INLINE_SECRETS.get(name, ()))
        sections[name] = sec
    config = Config(
        speechkit=loader.speechkit(sections["speechkit"]),
        storage=loader.storage(sections["storage"]),
        quotas=loader.quotas(sections["quotas"]),
        concurrency=loader.concurrency(sections["concurrency"]),
        paths=loader.paths(sections["paths"]),
        retry=loader.retry(sections["retry"]),
        polling=loader.polling(sections["polling"]),
        logging=loader.logging(sections["logging"]),
        status=loader.status(sections["status"]),
        service=loader.service(sections["service"]),
        state=loader.state(sections["state"]),
        outputs=loader.outputs(sections["outputs"]),
        hooks=loader.hooks(sections["hooks"]),
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
