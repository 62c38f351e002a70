"""structlog setup: JSON lines for journald, console output on a terminal, secret redaction,
and bounds: no field and no line grows without limit, whatever the input held.

journald splits a line longer than its ``LineMax=`` (48 KiB by default) into pieces that
are no longer JSON, so the operators' ``jq`` one-liners would silently lose it. Every field
is cut to ``MAX_FIELD_CHARS`` and every list to ``MAX_ITEMS``; a line still longer than
``MAX_LINE_BYTES`` is rendered again with smaller bounds, and marked ``truncated``.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from contextlib import AbstractContextManager
from typing import Any, Literal, TextIO

import structlog

REDACTED = "[REDACTED]"
_SECRET_KEY = re.compile(
    r"(secret|password|passwd|token|api[_-]?key|authorization|credential|access[_-]?key)", re.I
)
# Credentials that look like credentials even when nobody registered them.
_SECRET_PATTERNS = (
    re.compile(r"(?i)\b(Api-Key|Bearer)\s+[A-Za-z0-9_\-\.~+/=]+"),
    # A query parameter with a secret's word anywhere in its name (access_token, api_key,
    # X-Amz-Signature, sig...).
    re.compile(
        r"(?i)([?&][\w.~-]*(?:key|token|secret|sig|password|passwd|auth|credential)[\w.~-]*=)"
        r"[^&\s\"'#]+"
    ),
)
_known_secrets: set[str] = set()
# A shorter secret cannot be masked safely: its few characters would be masked all over.
MIN_SECRET_CHARS = 12

MAX_LINE_BYTES = 32 * 1024  # well under journald's 48 KiB LineMax
MAX_FIELD_CHARS = 8 * 1024
MAX_ITEMS = 50
_MAX_DEPTH = 6
# A traceback's end says what went wrong: of a long one, the end is kept.
_KEEP_THE_END = frozenset({"exception"})
_ALWAYS = ("event", "level", "timestamp")


def register_secret(value: str | None) -> None:
    """Remember a secret value so that it is removed from every later log event.

    Raises ValueError for a value shorter than ``MIN_SECRET_CHARS``: the config refuses
    such secrets before they get here.
    """
    if not value:
        return
    if len(value) < MIN_SECRET_CHARS:
        raise ValueError(
            f"a secret of {len(value)} characters is too short to redact safely "
            f"(at least {MIN_SECRET_CHARS})"
        )
    _known_secrets.add(value)


def forget_secret(value: str | None) -> None:
    """Stop redacting a secret that is gone for good (a renewed token's predecessor), so
    that the set does not grow with every renewal of a long-running daemon."""
    _known_secrets.discard(value or "")


def redact_text(text: str) -> str:
    """Return ``text`` with registered secrets and credential-looking fragments masked."""
    for secret in sorted(_known_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _SECRET_PATTERNS[0].sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _SECRET_PATTERNS[1].sub(lambda m: f"{m.group(1)}{REDACTED}", text)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {
            k: REDACTED if isinstance(k, str) and _SECRET_KEY.search(k) else _redact_value(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    if isinstance(value, BaseException):
        return redact_text(str(value))
    return value


_OPTIONAL_IDS = ("operation_id", "job_id", "manifest")


def drop_empty_ids(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: leave out ``operation_id`` and friends when they have no value."""
    for key in _OPTIONAL_IDS:
        if key in event_dict and event_dict[key] is None:
            del event_dict[key]
    return event_dict


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask secret-named keys and secret values anywhere in the event."""
    for key in list(event_dict):
        if _SECRET_KEY.search(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _redact_value(event_dict[key])
    return event_dict


def _cut(text: str, limit: int, keep_end: bool = False) -> str:
    if len(text) <= limit:
        return text
    more = f"({len(text) - limit} more characters)"
    return f"{more} ...{text[-limit:]}" if keep_end else f"{text[:limit]}... {more}"


def _bound(value: Any, chars: int, items: int, keep_end: bool = False, depth: int = 0) -> Any:
    """``value`` with strings cut to ``chars`` and lists and mappings to ``items``."""
    if isinstance(value, str):
        return _cut(value, chars, keep_end)
    if depth >= _MAX_DEPTH and isinstance(value, dict | list | tuple | set | frozenset):
        return _cut(repr(value), chars)
    if isinstance(value, dict):
        bounded = {
            (k if isinstance(k, str) else str(k))[:200]: _bound(v, chars, items, depth=depth + 1)
            for k, v in list(value.items())[:items]
        }
        if len(value) > items:
            bounded["..."] = f"{len(value) - items} more keys"
        return bounded
    if isinstance(value, list | tuple | set | frozenset):
        listed = list(value)
        bounded_list = [_bound(v, chars, items, depth=depth + 1) for v in listed[:items]]
        if len(listed) > items:
            bounded_list.append(f"... {len(listed) - items} more items")
        return bounded_list
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"  # never the bytes themselves
    return value


def bound_fields(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: every field within ``MAX_FIELD_CHARS`` and ``MAX_ITEMS``.

    Runs after redaction, so that no cut can leave part of a secret unmasked.
    """
    for key in list(event_dict):
        event_dict[key] = _bound(
            event_dict[key], MAX_FIELD_CHARS, MAX_ITEMS, keep_end=key in _KEEP_THE_END
        )
    return event_dict


class BoundedJSONRenderer:
    """JSON lines of at most ``MAX_LINE_BYTES``: a longer one is rendered again with every
    field cut shorter (``truncated: true``), down to its event, level and time."""

    def __init__(self) -> None:
        self._render = structlog.processors.JSONRenderer(sort_keys=False)

    def __call__(self, logger: Any, name: str, event_dict: MutableMapping[str, Any]) -> str:
        """Render one event."""
        line = str(self._render(logger, name, event_dict))
        chars, items = MAX_FIELD_CHARS // 4, MAX_ITEMS // 5
        while len(line.encode()) > MAX_LINE_BYTES and chars >= 64:
            smaller = {
                key: _bound(value, chars, items, keep_end=key in _KEEP_THE_END)
                for key, value in event_dict.items()
            }
            smaller["truncated"] = True
            line = str(self._render(logger, name, smaller))
            chars, items = chars // 4, max(1, items // 2)
        if len(line.encode()) > MAX_LINE_BYTES:
            kept = {key: _cut(str(event_dict[key]), 200) for key in _ALWAYS if key in event_dict}
            line = str(self._render(logger, name, {**kept, "truncated": True}))
        return line


LogFormat = Literal["auto", "json", "console"]


def configure(level: str = "info", fmt: LogFormat = "auto", stream: TextIO | None = None) -> None:
    """Configure structlog once for the process; may be called again to change level or format."""
    out = stream if stream is not None else sys.stdout
    if fmt == "auto":
        fmt = "console" if out.isatty() else "json"
    renderer: Any = (
        BoundedJSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        drop_empty_ids,
        redact_secrets,
        bound_fields,
        renderer,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )


def log_context(**fields: Any) -> AbstractContextManager[None]:
    """Bind ``fields`` to every log line of the current task until the block ends
    (structlog's context variables, merged by ``configure``'s first processor)."""
    return structlog.contextvars.bound_contextvars(**fields)


def get_logger(**initial: Any) -> Any:
    """A bound logger with ``initial`` fields (manifest, job_id, operation_id, ...)."""
    return structlog.get_logger(**initial)
