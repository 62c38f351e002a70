"""Completion hooks (pure): what runs when a manifest finishes, who may ask for it, how a
webhook is signed, and what follows each attempt.

A hook is a command (an argv list, never a shell line, run with the report's path as its
last argument and the report's JSON on stdin) or a webhook (the report's JSON POSTed).
The daemon's config names hooks for every manifest; a manifest may name its own
(``on_finish:``) only as far as the config allows, because whoever writes a manifest is
not always whoever runs the daemon:

* a manifest's command runs only when its program is one of the config's
  ``hooks.manifest_commands`` (none by default): a command runs with the daemon's rights;
* a manifest's webhook goes only to a URL under one of the config's
  ``hooks.manifest_webhooks`` (none by default): scheme, host and port equal, and the path
  under the allowed one on a ``/`` boundary, so that a manifest cannot make the daemon
  POST into the operator's network wherever it likes.

Webhooks are signed much like Standard Webhooks, but the target URL is signed too (one
secret signs every webhook, so a receiver a manifest may POST to must not be able to replay
what it got to another), in headers of our own:

    X-Speechkit-Delivery:  <delivery id>   (the same on every attempt: dedupe on it)
    X-Speechkit-Timestamp: <Unix seconds when this attempt was signed>
    X-Speechkit-Signature: v2,sha256=<hex HMAC-SHA256(secret,
                               "v2\n<id>\n<timestamp>\n<url>\n<body>")>

A receiver recomputes the HMAC over its own URL and the raw body, compares in constant
time, refuses a timestamp more than a few minutes away from its clock (a replay), and keeps
the delivery ids it has seen (delivery is at-least-once).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from orchestrator.core.backoff import RetryPolicy, retry_at, should_give_up

HookKind = Literal["command", "webhook"]
HookOrigin = Literal["config", "manifest"]
DeliveryState = Literal["pending", "delivered", "failed"]
DELIVERY_STATES: tuple[DeliveryState, ...] = ("pending", "delivered", "failed")

SIGNATURE_HEADER = "X-Speechkit-Signature"
TIMESTAMP_HEADER = "X-Speechkit-Timestamp"
DELIVERY_HEADER = "X-Speechkit-Delivery"
EVENT_HEADER = "X-Speechkit-Event"
EVENT = "manifest.finished"
# The signature scheme's version leads the header's value, so that a receiver can tell
# this scheme (the target URL signed too) from another.
SIGNATURE_VERSION = "v2"
SIGNATURE_PREFIX = f"{SIGNATURE_VERSION},sha256="
# How far a receiver should let a timestamp be from its clock (the verify default).
REPLAY_TOLERANCE_S = 300.0
WEB_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class OnFinish:
    """What to do when a manifest finishes: a command (argv), a webhook URL, or both."""

    command: tuple[str, ...] | None = None
    webhook: str | None = None

    def hooks(self, origin: HookOrigin) -> tuple[Hook, ...]:
        """One hook per thing to do, command first."""
        found: list[Hook] = []
        if self.command:
            found.append(Hook("command", origin, command=self.command))
        if self.webhook:
            found.append(Hook("webhook", origin, url=self.webhook))
        return tuple(found)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (for the store)."""
        command = None if self.command is None else list(self.command)
        return {"command": command, "webhook": self.webhook}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OnFinish:
        """The inverse of :meth:`to_dict`."""
        command = data.get("command")
        return cls(
            command=None if command is None else tuple(str(a) for a in command),
            webhook=None if data.get("webhook") is None else str(data["webhook"]),
        )


@dataclass(frozen=True)
class Hook:
    """One thing to do when a manifest finishes, and who asked for it. A hook read back
    from the store has only ``shown``: its command or URL are those of the config or the
    manifest at the attempt, never the store's."""

    kind: HookKind
    origin: HookOrigin
    command: tuple[str, ...] = ()
    url: str = ""
    shown: str = ""  # the target as stored, for logs and ``status``

    @property
    def target(self) -> str:
        """What the hook reaches, as logs and ``status`` may show it: a command's program
        (its arguments may be long), a webhook's URL without its query or credentials."""
        if self.shown:
            return self.shown
        return self.command[0] if self.kind == "command" else shown_url(self.url)

    def target_dict(self) -> dict[str, Any]:
        """The hook's target as the store keeps it: what may be shown, never the command's
        arguments nor the URL (write access to the store must not choose what runs)."""
        return {"shown": self.target}

    @classmethod
    def from_target(cls, kind: str, origin: str, target: Mapping[str, Any]) -> Hook:
        """The hook of a stored delivery (its ``shown`` only; see :meth:`target_dict`)."""
        if kind not in ("command", "webhook"):
            raise ValueError(f"unknown hook kind {kind!r}")
        hook_kind: HookKind = "command" if kind == "command" else "webhook"
        return cls(hook_kind, _origin(origin), shown=str(target.get("shown", "")))


def _origin(value: str) -> HookOrigin:
    if value == "config":
        return "config"
    if value == "manifest":
        return "manifest"
    raise ValueError(f"unknown hook origin {value!r}")


@dataclass(frozen=True)
class HookDelivery:
    """One hook of one finished manifest, as the store keeps it until it is delivered."""

    id: int
    delivery_id: str  # the idempotency key the receiver sees, the same on every attempt
    manifest_id: int
    manifest: str
    hook: Hook
    state: DeliveryState
    attempts: int  # made so far
    next_attempt_at: float
    last_error: str | None
    created_at: float  # the manifest's finish
    updated_at: float
    delivered_at: float | None
    report_path: str | None

    def to_status(self) -> dict[str, Any]:
        """JSON-ready, for ``status`` and ``/status`` (never the hook's arguments)."""
        return {
            "kind": self.hook.kind,
            "origin": self.hook.origin,
            "target": self.hook.target,
            "state": self.state,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "next_attempt_at": self.next_attempt_at if self.state == "pending" else None,
            "delivered_at": self.delivered_at,
            "delivery_id": self.delivery_id,
        }


# A path segment this long, of letters mixed with digits (or - and _), is taken for a token
# (Slack's /services/T000/B000/<token>, Discord's /api/webhooks/<id>/<token>).
_TOKEN_CHARS = 16
MASKED = "[REDACTED]"


def _masked_segment(segment: str) -> str:
    plain = segment.replace("-", "").replace("_", "")
    looks_random = plain.isalnum() and not plain.isdigit() and not plain.isalpha()
    return MASKED if len(segment) >= _TOKEN_CHARS and looks_random else segment


def shown_url(url: str) -> str:
    """``url`` as logs and ``status`` may show it: scheme, host, port and path, with what
    looks like a token in the path masked; no query, no credentials (a webhook URL may
    carry a token in either)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid URL>"
    if ":" in host:
        host = f"[{host}]"
    path = "/".join(_masked_segment(segment) for segment in parts.path.split("/"))
    return f"{parts.scheme}://{host}{port}{path}"


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a webhook, or None."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # a bad port raises
    except ValueError:
        return "not a URL"
    if parts.scheme not in WEB_SCHEMES or not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    if parts.username is not None or parts.password is not None:
        return "must not hold credentials (user:password@); the request is signed instead"
    if parts.fragment:
        return "must not have a #fragment"
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return "must not contain spaces or control characters"
    return _path_problem(url)


# A path is decoded this many times at most: more layers of %25 than that are refused.
_MAX_DECODINGS = 4


def _decodings(text: str) -> list[str]:
    """``text`` and each percent-decoding of it in turn, until nothing changes."""
    found = [text]
    while len(found) <= _MAX_DECODINGS:
        decoded = unquote(found[-1])
        if decoded == found[-1]:
            return found
        found.append(decoded)
    return found


def _path_problem(url: str) -> str | None:
    """Why the URL's path could mean another path to a receiver than to the allow-list:
    a backslash (read as ``/`` by many servers), an encoded separator, a dot segment
    (also one hidden by encoding or ``;`` parameters), or too many layers of encoding."""
    if "\\" in url:
        return "must not contain a backslash"
    layers = _decodings(urlsplit(url).path)
    if len(layers) > _MAX_DECODINGS:
        return "must not be percent-encoded over and over"
    for layer in layers:
        lowered = layer.lower()
        if "%2f" in lowered or "%5c" in lowered or "\\" in layer:
            return "must not contain an encoded separator (%2F, %5C) or a backslash"
    segments = layers[-1].split("/")
    if any(segment.split(";", 1)[0] in (".", "..") for segment in segments):
        return "must not contain a . or .. segment (also encoded, or with ;parameters)"
    return None


def _origin_of(url: str) -> tuple[str, str, int, str] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in WEB_SCHEMES or not parts.hostname:
        return None
    return (
        parts.scheme,
        parts.hostname.lower().rstrip("."),
        port if port is not None else DEFAULT_PORTS[parts.scheme],
        # Compared as the receiver reads it: decoded (url_problem refuses what decoding
        # could turn into a separator or a dot segment).
        _decodings(parts.path)[-1] or "/",
    )


def url_allowed(url: str, allowed: Sequence[str]) -> bool:
    """Whether ``url`` is under one of the ``allowed`` URLs: the same scheme, host and port,
    and a path equal to the allowed one or below it on a ``/`` boundary (``/hooks`` allows
    ``/hooks/x``, not ``/hooksmith``), both compared decoded. Dot segments, backslashes and
    encoded separators are refused outright (:func:`url_problem`)."""
    target = _origin_of(url)
    if target is None or url_problem(url) is not None:
        return False
    scheme, host, port, path = target
    for entry in allowed:
        base = _origin_of(entry)
        if base is None or base[:3] != (scheme, host, port):
            continue
        prefix = base[3]
        if path == prefix or path.startswith(prefix if prefix.endswith("/") else prefix + "/"):
            return True
    return False


@dataclass(frozen=True)
class HookPolicy:
    """What the daemon's config lets a manifest ask for."""

    commands: tuple[str, ...] = ()  # programs a manifest's command may run
    webhooks: tuple[str, ...] = ()  # URLs a manifest's webhook may be under

    def refusal(self, hook: Hook) -> str | None:
        """Why ``hook`` (from a manifest) may not run, or None. The config's own hooks are
        the operator's: always allowed."""
        if hook.origin == "config":
            return None
        if hook.kind == "command":
            if hook.command and hook.command[0] in self.commands:
                return None
            allowed = ", ".join(self.commands) if self.commands else "none"
            return (
                f"the program {hook.command[0] if hook.command else ''!r} is not one the "
                f"daemon's config lets manifests run (hooks.manifest_commands: {allowed})"
            )
        if url_allowed(hook.url, self.webhooks):
            return None
        allowed = ", ".join(self.webhooks) if self.webhooks else "none"
        return (
            f"{shown_url(hook.url)} is not under a URL the daemon's config lets manifests "
            f"POST to (hooks.manifest_webhooks: {allowed})"
        )


# -- signing -------------------------------------------------------------------------------


def signed_content(delivery_id: str, timestamp: int, url: str, body: bytes) -> bytes:
    """What the signature covers: the scheme's version, the delivery id, the timestamp and
    the target URL, each ended by a newline (none of them can hold one), then the body."""
    return f"{SIGNATURE_VERSION}\n{delivery_id}\n{timestamp}\n{url}\n".encode() + body


def sign(secret: str, delivery_id: str, timestamp: int, url: str, body: bytes) -> str:
    """The ``X-Speechkit-Signature`` value: ``v2,sha256=`` and the HMAC-SHA256 in hex."""
    content = signed_content(delivery_id, timestamp, url, body)
    digest = hmac.new(secret.encode(), content, hashlib.sha256)
    return SIGNATURE_PREFIX + digest.hexdigest()


def signature_headers(
    secret: str, delivery_id: str, timestamp: int, url: str, body: bytes
) -> dict[str, str]:
    """Every header of a webhook request to ``url`` but its content type."""
    return {
        EVENT_HEADER: EVENT,
        DELIVERY_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, delivery_id, timestamp, url, body),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    url: str,
    now: float,
    tolerance_s: float = REPLAY_TOLERANCE_S,
) -> bool:
    """What a receiver at ``url`` does: the signature matches the raw body, the delivery
    id, the timestamp and its own URL, and the timestamp is within ``tolerance_s`` of
    ``now``."""
    lowered = {k.lower(): v for k, v in headers.items()}
    delivery = lowered.get(DELIVERY_HEADER.lower())
    stamp = lowered.get(TIMESTAMP_HEADER.lower())
    signature = lowered.get(SIGNATURE_HEADER.lower())
    if not delivery or not stamp or not signature or not stamp.isdigit():
        return False
    if abs(now - int(stamp)) > tolerance_s:
        return False
    expected = sign(secret, delivery, int(stamp), url, body)
    return hmac.compare_digest(expected, signature)


# -- what follows an attempt --------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """The outcome of one attempt: delivered, or why not and whether to try again."""

    ok: bool
    error: str | None = None
    retryable: bool = False
    retry_after: float | None = None  # seconds, from a webhook's Retry-After


@dataclass(frozen=True)
class Next:
    """The delivery's state after an attempt."""

    state: DeliveryState
    attempts: int
    next_attempt_at: float
    error: str | None


def after_attempt(
    outcome: Attempt, attempts: int, policy: RetryPolicy, now: float, rand: float
) -> Next:
    """``attempts`` made (this one included): delivered, pending again after a backoff
    (a retryable failure with attempts left), or failed for good."""
    if outcome.ok:
        return Next("delivered", attempts, now, None)
    if not outcome.retryable or should_give_up(attempts, policy):
        return Next("failed", attempts, now, outcome.error)
    when = retry_at(now, attempts, policy, rand, outcome.retry_after)
    return Next("pending", attempts, when, outcome.error)


def webhook_outcome(status: int, retry_after: float | None = None) -> Attempt:
    """What an HTTP status means for a webhook: 2xx delivered; 5xx, 408 and 429 retried;
    anything else (a 4xx: the receiver refuses it; a 3xx: redirects are not followed, the
    allow-list judged the URL asked for) failed for good."""
    if 200 <= status < 300:
        return Attempt(ok=True)
    retryable = status >= 500 or status in (408, 429)
    reason = f"HTTP {status}"
    if 300 <= status < 400:
        reason += " (a redirect: not followed)"
    return Attempt(ok=False, error=reason, retryable=retryable, retry_after=retry_after)


def command_outcome(exit_status: int | None, stderr_tail: str, timed_out: bool) -> Attempt:
    """What a command's end means: exit 0 delivered; anything else retried (the command is
    the operator's, and its trouble is often passing: a network, a lock)."""
    if timed_out:
        return Attempt(ok=False, error="timed out (killed)", retryable=True)
    if exit_status == 0:
        return Attempt(ok=True)
    detail = f": {stderr_tail}" if stderr_tail else ""
    if exit_status is not None and exit_status < 0:
        return Attempt(ok=False, error=f"killed by signal {-exit_status}{detail}", retryable=True)
    return Attempt(ok=False, error=f"exit status {exit_status}{detail}", retryable=True)


def tail(data: bytes, limit: int) -> str:
    """The last ``limit`` characters of a command's output, decoded leniently, one line."""
    text = data.decode("utf-8", errors="replace").strip()
    text = " | ".join(line.strip() for line in text.splitlines() if line.strip())
    return text if len(text) <= limit else "..." + text[-limit:]
