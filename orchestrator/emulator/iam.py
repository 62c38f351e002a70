"""The emulator's IAM: one service account with one authorized key, made at start and
written for the test as ``yc iam key create`` writes it, and the IAM tokens it issues
(to a JWT signed with that key, or to the VM metadata service's callers), each with a
lifetime after which the recognition APIs answer 401 to it."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

# The longest a JWT may live (exp - iat), as the real IAM service requires.
MAX_JWT_LIFETIME_S = 3600
_KEY_WARNING = "PLEASE DO NOT REMOVE THIS LINE! Yandex.Cloud SA Key ID"
_ALPHABET = "abcdefghijklmnopqrstuv0123456789"


class TokenRefused(Exception):
    """A JWT or an IAM token the emulator does not take; the message says why."""


def _cloud_id(prefix: str) -> str:
    """An id shaped like Yandex Cloud's: a prefix and 17 more characters."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(17))


def rfc3339(moment: float) -> str:
    """A time as the IAM service writes ``expiresAt``."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Iam:
    """The key pair, the tokens issued and when each expires (wall clock)."""

    def __init__(self, lifetime_s: float) -> None:
        self.lifetime_s = lifetime_s
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_id = _cloud_id("ajk")
        self.service_account_id = _cloud_id("aje")
        self.expiry: dict[str, float] = {}  # token -> when it expires
        self.issued: Counter[str] = Counter()  # by how it was asked for: "jwt", "metadata"

    def authorized_key(self) -> dict[str, str]:
        """The key as ``yc iam key create --output`` writes it (private key included)."""
        private = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        public = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return {
            "id": self.key_id,
            "service_account_id": self.service_account_id,
            "created_at": rfc3339(time.time()),
            "key_algorithm": "RSA_2048",
            "public_key": public.decode(),
            # `yc` writes a warning line before the PEM block; readers must skip it.
            "private_key": f"{_KEY_WARNING} <{self.key_id}>\n{private}",
        }

    def write_authorized_key(self, path: Path) -> None:
        """Write the key's JSON to ``path``, readable by its owner only."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(self.authorized_key(), out, indent=2)

    def issue(self, how: str, now: float) -> tuple[str, float]:
        """A new IAM token and when it expires."""
        token = "t1." + secrets.token_urlsafe(48)
        self.expiry[token] = now + self.lifetime_s
        self.issued[how] += 1
        return token, self.expiry[token]

    def exchange(self, signed: str, audiences: list[str], now: float) -> tuple[str, float]:
        """An IAM token for a JWT signed PS256 with the key; TokenRefused otherwise."""
        try:
            header = jwt.get_unverified_header(signed)
            claims = jwt.decode(
                signed,
                self.key.public_key(),
                algorithms=["PS256"],
                audience=audiences,
                issuer=self.service_account_id,
                options={"require": ["iss", "aud", "iat", "exp"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenRefused(f"the JWT is not valid: {exc}") from None
        if header.get("kid") != self.key_id:
            raise TokenRefused("the JWT's kid names no key of the service account")
        if claims["exp"] - claims["iat"] > MAX_JWT_LIFETIME_S:
            raise TokenRefused("the JWT lives longer than an hour")
        return self.issue("jwt", now)

    def check(self, token: str, now: float) -> str | None:
        """None for a valid token issued here, else why not: "expired" or "unknown"."""
        expires_at = self.expiry.get(token)
        if expires_at is None:
            return "unknown"
        return "expired" if now >= expires_at else None

    def as_json(self) -> dict[str, Any]:
        """The counters for /_emulator/stats (no token, no key)."""
        return {"lifetime_s": self.lifetime_s, "tokens_issued": dict(sorted(self.issued.items()))}
