"""The config's ``hooks:`` section (what runs when any manifest finishes, and what manifests
may ask for), and the readers of a command and a webhook that manifests' ``on_finish:``
uses too."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import yaml

from orchestrator.config.schema import HooksConfig
from orchestrator.config.secrets import SecretReader
from orchestrator.config.yamlload import Reader, Section, join_path
from orchestrator.core.hooks import OnFinish, url_problem

# An argument list this long is a mistake, not a hook.
MAX_ARGS = 100


def read_command(sec: Section, key: str = "command") -> tuple[str, ...] | None:
    """An argv list: the program (an absolute path) and its arguments; never a shell line."""
    node = sec.node_of(key)
    if node is None or sec.reader.is_null(node):
        return None
    r, field = sec.reader, sec.field(key)
    if not isinstance(node, yaml.SequenceNode):
        r.problem(node, field, "must be a list: the program and its arguments (no shell)")
        return None
    items = list(node.value)
    if not items or len(items) > MAX_ARGS:
        r.problem(node, field, f"must list the program and at most {MAX_ARGS - 1} arguments")
        return None
    argv = _argv(r, items, field)
    if argv is not None and not argv[0].startswith("/"):
        r.problem(items[0], join_path(field, 0), "the program must be an absolute path")
        return None
    return argv


def _argv(r: Reader, items: list[yaml.Node], field: str) -> tuple[str, ...] | None:
    """Each item of a command's list as a string (the arguments may be empty), or None
    after the first that is not one."""
    argv: list[str] = []
    for index, item in enumerate(items):
        value = r.string(item, join_path(field, index), allow_empty=index > 0)
        if value is None:
            return None
        if "\0" in value:
            r.problem(item, join_path(field, index), "must not contain a NUL byte")
            return None
        argv.append(value)
    return tuple(argv)


def read_webhook(sec: Section, key: str = "webhook") -> str | None:
    """An http(s) URL without credentials."""
    value = sec.optional_string(key)
    if value is None:
        return None
    problem = url_problem(value.strip())
    if problem is not None:
        sec.reader.problem(sec.node_of(key), sec.field(key), problem)
        return None
    url = value.strip()
    parts = urlsplit(url)
    if parts.scheme == "http" and not _loopback(parts.hostname or ""):
        sec.reader.warn(
            sec.node_of(key),
            sec.field(key),
            "http:// sends the report unencrypted (signed, but readable on the way); "
            "prefer https://",
        )
    return url


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_on_finish(sec: Section) -> OnFinish | None:
    """``command`` and ``webhook`` of ``sec``; None when it names neither."""
    command = read_command(sec)
    webhook = read_webhook(sec)
    if command is None and webhook is None:
        return None
    return OnFinish(command=command, webhook=webhook)


def _strings(sec: Section, key: str) -> list[tuple[str, int]]:
    """A list of strings, each with its index."""
    node = sec.node_of(key)
    if node is None or sec.reader.is_null(node):
        return []
    items = sec.reader.sequence(node, sec.field(key))
    found = []
    for index, item in enumerate(items or []):
        value = sec.reader.string(item, join_path(sec.field(key), index))
        if value is not None:
            found.append((value, index))
    return found


def read_hooks(sec: Section, secrets: SecretReader) -> HooksConfig:
    """The ``hooks:`` section, every problem recorded on the section's reader."""
    d = HooksConfig()
    r = sec.reader
    on_finish = read_on_finish(sec)
    commands = []
    for program, index in _strings(sec, "manifest_commands"):
        if not program.startswith("/"):
            r.problem(
                sec.node_of("manifest_commands"),
                join_path(sec.field("manifest_commands"), index),
                "must be an absolute path to a program",
            )
            continue
        commands.append(program)
    webhooks = []
    for url, index in _strings(sec, "manifest_webhooks"):
        problem = url_problem(url)
        if problem is not None:
            r.problem(
                sec.node_of("manifest_webhooks"),
                join_path(sec.field("manifest_webhooks"), index),
                problem,
            )
            continue
        webhooks.append(url)
    secret = secrets.read(sec, "secret")
    named_secret = any(key.startswith("secret_") for key in sec)
    if (webhooks or (on_finish is not None and on_finish.webhook)) and not named_secret:
        r.problem(
            sec.anchor,
            sec.field("secret_env"),
            "missing: webhooks are signed; name the signing secret with secret_env, "
            "secret_file or secret_credential",
        )
    config = HooksConfig(
        on_finish=on_finish or OnFinish(),
        secret=secret,
        command_timeout_s=sec.positive_number("command_timeout_s", d.command_timeout_s),
        webhook_timeout_s=sec.positive_number("webhook_timeout_s", d.webhook_timeout_s),
        max_attempts=sec.positive_int("max_attempts", d.max_attempts),
        base_delay_s=sec.positive_number("base_delay_s", d.base_delay_s),
        max_delay_s=sec.positive_number("max_delay_s", d.max_delay_s),
        manifest_commands=tuple(commands),
        manifest_webhooks=tuple(webhooks),
    )
    if config.max_delay_s < config.base_delay_s:
        r.problem(
            sec.node_of("max_delay_s") or sec.anchor,
            sec.field("max_delay_s"),
            "must be at least base_delay_s",
        )
    return config
