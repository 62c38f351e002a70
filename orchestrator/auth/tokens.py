"""What every credential source gives and raises: a token with its times, or an error
that names the source and never the secret."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


class CredentialsError(Exception):
    """A source could not give a token (its message names the source, never a secret)."""


class CredentialsUnavailable(Exception):
    """No token can be sent now: a renewal failed and the old token is gone or refused.

    ``retry_after`` is when the next renewal may be tried, in seconds from now."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Token:
    """An IAM token and its times (seconds since the epoch); prints without its value."""

    value: str = field(repr=False)
    issued_at: float
    expires_at: float = math.inf  # unknown (a token file): renewed by re-reading the file
    renew_at: float = math.inf


class TokenSource(Protocol):
    """Where renewed IAM tokens come from: an authorized key, the metadata service, a file."""

    name: str  # "authorized_key", "metadata", "token_file": a log field and metric label

    async def fetch(self, now: float) -> Token:
        """A token valid from ``now``; CredentialsError when none can be had."""
        ...


def parse_timestamp(text: object) -> float | None:
    """An RFC 3339 time ("2026-12-07T23:00:00.123456789Z") as seconds since the epoch."""
    if not isinstance(text, str) or "T" not in text:
        return None
    head, _, rest = text.strip().replace("z", "Z").partition(".")
    if rest:
        digits = rest.rstrip("Z").split("+")[0].split("-")[0]
        zone = rest[len(digits) :]
        head = f"{head}.{digits[:6]}{zone}"
    try:
        moment = datetime.fromisoformat(head.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.timestamp()
