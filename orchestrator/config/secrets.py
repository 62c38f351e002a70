"""Secrets in the config: named by an environment variable, a file or a systemd credential,
never written inline, never echoed in a message."""

from __future__ import annotations

import re
import stat
from collections.abc import Mapping
from pathlib import Path

import yaml

from orchestrator.config.fields import SECRET_SUFFIXES
from orchestrator.config.schema import Secret
from orchestrator.config.yamlload import Reader, Section
from orchestrator.telemetry.logs import MIN_SECRET_CHARS

_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CREDENTIAL_RE = re.compile(r"[A-Za-z0-9_.:-]+")


class SecretReader:
    """Reads secrets for one config load; problems go to the load's reader."""

    def __init__(
        self, reader: Reader, base_dir: Path, env: Mapping[str, str], resolve: bool
    ) -> None:
        self.r = reader
        self.base_dir = base_dir
        self.env = env
        self.resolve = resolve  # False: check the references, read no value (plan, validate)
        self.files: list[Path] = []  # every *_file named, to be kept out of the audio
        # The file each secret read from a file or a credential came from, by its name.
        self.paths: dict[str, Path] = {}
        credentials = env.get("CREDENTIALS_DIRECTORY")
        if credentials:
            # systemd's credentials (the API key among them) are never audio either.
            self.files.append(Path(credentials))

    def read(self, sec: Section, name: str) -> Secret | None:
        """The secret ``name`` from exactly one of its ``_env``/``_file``/``_credential`` keys."""
        key = self._key_of(sec, name)
        if key is None:
            return None
        ref = sec.optional_string(key)
        if ref is None:
            return None
        node = sec.node_of(key)
        if key.endswith("_env"):
            return self._from_env(node, sec.field(key), ref)
        if key.endswith("_file"):
            path = Path(ref).expanduser()
            path = path if path.is_absolute() else self.base_dir / path
            self.files.append(path)
            secret = self._from_file(node, sec.field(key), path, f"file {path}")
            if secret is not None:
                self.paths[name] = path
                self._check_mode(node, sec.field(key), path)
            return secret
        secret = self._from_credential(node, sec.field(key), ref)
        if secret is not None:
            self.paths[name] = Path(self.env["CREDENTIALS_DIRECTORY"]) / ref
        return secret

    def _key_of(self, sec: Section, name: str) -> str | None:
        """The one key that names the secret ``name`` (None: none, or a problem reported)."""
        if name in sec:
            # The value is deliberately not echoed: it may be the real key.
            self.r.problem(
                sec.key_node(name),
                sec.field(name),
                f"secrets are never written inline; use {name}_env (an environment variable), "
                f"{name}_file (a file) or {name}_credential (a systemd credential)",
            )
            return None
        given = [name + s for s in SECRET_SUFFIXES if name + s in sec]
        if len(given) > 1:
            self.r.problem(
                sec.key_node(given[1]), sec.field(given[1]), f"give only one of {', '.join(given)}"
            )
            return None
        return given[0] if given else None

    def _from_env(self, node: yaml.Node | None, fld: str, name: str) -> Secret | None:
        if not _ENV_NAME_RE.fullmatch(name):
            self.r.problem(node, fld, "must be an environment variable name like SPEECHKIT_API_KEY")
            return None
        if not self.resolve:
            return None
        value = self.env.get(name)
        if value is None:
            self.r.problem(node, fld, f"environment variable {name} is not set")
            return None
        if not value.strip():
            self.r.problem(node, fld, f"environment variable {name} is empty")
            return None
        return self._secret(node, fld, value.strip(), f"environment variable {name}")

    def _from_file(
        self, node: yaml.Node | None, fld: str, path: Path, source: str
    ) -> Secret | None:
        if not self.resolve:
            return None
        try:
            value = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            self.r.problem(node, fld, f"secret file {path} does not exist")
            return None
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "unreadable"
            self.r.problem(node, fld, f"cannot read secret file {path}: {reason}")
            return None
        if not value:
            self.r.problem(node, fld, f"secret file {path} is empty")
            return None
        return self._secret(node, fld, value, source)

    def _secret(self, node: yaml.Node | None, fld: str, value: str, source: str) -> Secret | None:
        """The value as a Secret, unless it is too short to be masked in the logs."""
        if len(value) < MIN_SECRET_CHARS:
            # Masking a secret of a few characters would mask them in every log line.
            self.r.problem(
                node,
                fld,
                f"the secret from {source} is too short ({len(value)} characters) to be "
                f"redacted from the logs safely; real keys have at least {MIN_SECRET_CHARS}",
            )
            return None
        return Secret(value, source)

    def _check_mode(self, node: yaml.Node | None, fld: str, path: Path) -> None:
        """Warn when users other than the owner may read a secret file."""
        try:
            mode = path.stat().st_mode
        except OSError:
            return
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            self.r.warn(
                node,
                fld,
                f"secret file {path} is readable by other users (mode {stat.S_IMODE(mode):04o});"
                " chmod go= it, or use a systemd credential",
            )

    def _from_credential(self, node: yaml.Node | None, fld: str, name: str) -> Secret | None:
        if not _CREDENTIAL_RE.fullmatch(name):
            self.r.problem(node, fld, "must be a systemd credential name (no '/')")
            return None
        if not self.resolve:
            return None
        directory = self.env.get("CREDENTIALS_DIRECTORY")
        if not directory:
            self.r.problem(
                node,
                fld,
                "CREDENTIALS_DIRECTORY is not set (use LoadCredential= in the systemd unit)",
            )
            return None
        return self._from_file(node, fld, Path(directory) / name, f"credential {name}")
