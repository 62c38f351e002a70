"""The sources of renewed IAM tokens: a service account's authorized key (a PS256 JWT
exchanged at the IAM service), a VM's metadata service, and a file an external refresher
rewrites. Each gives a :class:`Token`, registered for log redaction before it is returned."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
import jwt

from orchestrator.config.schema import AuthorizedKey
from orchestrator.core import constants
from orchestrator.core.credentials import jwt_claims, jwt_headers, renew_at, usable
from orchestrator.core.jsontext import loads
from orchestrator.telemetry.logs import MIN_SECRET_CHARS, forget_secret, register_secret

from .tokens import CredentialsError, Token, parse_timestamp

# A token file is looked at again (one stat) at most this often.
FILE_RECHECK_S = 1.0


def register(value: str, source: str) -> None:
    """Register a token for redaction; CredentialsError when too short to be a real one."""
    if len(value) < MIN_SECRET_CHARS:
        raise CredentialsError(f"{source}: the token is too short to be an IAM token")
    register_secret(value)


def new_token(value: str, now: float, expires_at: float, source: str) -> Token:
    """A fetched token, registered for redaction; CredentialsError when already expired."""
    register(value, source)
    if not usable(now, expires_at):
        raise CredentialsError(
            f"{source}: the token it gave expires {expires_at - now:.0f} s from now; "
            "is this machine's clock right?"
        )
    return Token(value, now, expires_at, renew_at(now, expires_at))


async def _answer(
    session: aiohttp.ClientSession, method: str, url: str, what: str, **kwargs: Any
) -> Mapping[str, Any]:
    """The JSON object a token endpoint answers; CredentialsError for anything else."""
    try:
        async with session.request(method, url, **kwargs) as resp:
            body = await resp.read()
            status = resp.status
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise CredentialsError(f"{what}: {type(exc).__name__}: {exc}") from None
    if status != 200:
        # The body is the service's error message: it holds no token.
        message = body[:300].decode("utf-8", "replace").strip()
        raise CredentialsError(f"{what}: HTTP {status}: {message}")
    try:
        data = loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise CredentialsError(f"{what}: the answer is not a JSON object")
    return data


class AuthorizedKeySource:
    """IAM tokens for a service account's authorized key: a JWT signed PS256 with the
    key, exchanged at the IAM service (``url``, also the JWT's audience)."""

    name = "authorized_key"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        key: AuthorizedKey,
        url: str = constants.IAM_TOKENS_URL,
        timeout_s: float = 30.0,
    ) -> None:
        self.session = session
        self.key = key
        self.url = url
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    def signed_jwt(self, now: float) -> str:
        """The JWT the IAM service takes for an IAM token, signed with the private key."""
        claims = jwt_claims(self.key.service_account_id, self.url, int(now))
        signed = jwt.encode(
            claims,
            self.key.private_key.reveal(),
            algorithm="PS256",
            headers=jwt_headers(self.key.key_id),
        )
        register_secret(signed)
        return signed

    async def fetch(self, now: float) -> Token:
        """A new IAM token for the service account."""
        what = f"the IAM service at {self.url} (authorized key {self.key.key_id})"
        try:
            signed = self.signed_jwt(now)
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise CredentialsError(f"{what}: cannot sign the JWT: {type(exc).__name__}") from None
        try:
            data = await _answer(
                self.session, "POST", self.url, what, json={"jwt": signed}, timeout=self.timeout
            )
        finally:
            forget_secret(signed)  # a JWT is used once
        value, expires_at = data.get("iamToken"), parse_timestamp(data.get("expiresAt"))
        if not isinstance(value, str) or not value or expires_at is None:
            raise CredentialsError(f"{what}: the answer lacks iamToken or expiresAt")
        return new_token(value, now, expires_at, what)


class MetadataSource:
    """IAM tokens of the service account attached to the VM the daemon runs on."""

    name = "metadata"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str = constants.METADATA_URL,
        timeout_s: float = 10.0,
    ) -> None:
        self.session = session
        self.url = url.rstrip("/") + constants.METADATA_TOKEN_PATH
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def fetch(self, now: float) -> Token:
        """The VM's current IAM token."""
        what = f"the metadata service at {self.url}"
        data = await _answer(
            self.session,
            "GET",
            self.url,
            what,
            headers={"Metadata-Flavor": "Google"},
            timeout=self.timeout,
        )
        value, expires_in = data.get("access_token"), data.get("expires_in")
        if not isinstance(value, str) or not value or not isinstance(expires_in, int | float):
            raise CredentialsError(f"{what}: the answer lacks access_token or expires_in")
        return new_token(value, now, now + float(expires_in), what)


class TokenFileSource:
    """An IAM token kept in a file by an external refresher: read again when the file
    changes (another inode, modification time or size)."""

    name = "token_file"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None
        self._value = ""

    async def fetch(self, now: float) -> Token:
        """The file's token (read again only when the file changed)."""
        try:
            info = os.stat(self.path)
            seen = (info.st_ino, info.st_mtime_ns, info.st_size)
            if seen != self._seen:
                self._value = self.path.read_text(encoding="utf-8").strip()
                self._seen = seen
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "unreadable"
            raise CredentialsError(f"token file {self.path}: {reason}") from None
        if not self._value:
            raise CredentialsError(f"token file {self.path} is empty")
        register(self._value, f"token file {self.path}")
        return Token(self._value, now, renew_at=now + FILE_RECHECK_S)
