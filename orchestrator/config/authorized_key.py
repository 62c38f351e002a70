"""A service account's authorized key read from its JSON (what ``yc iam key create``
writes): the fields a JWT needs, checked at load so that a wrong file is named at once."""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from orchestrator.config.schema import AuthorizedKey, Secret

_FIELDS = ("id", "service_account_id", "private_key")


def parse_authorized_key(text: str, source: str) -> AuthorizedKey:
    """The key in ``text`` (from ``source``); ValueError naming the field that is wrong.

    No message quotes the text: it holds the private key."""
    try:
        data: Any = json.loads(text)
    except ValueError:
        raise ValueError("not JSON: the file `yc iam key create --output` writes") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object: the file `yc iam key create --output` writes")
    for name in _FIELDS:
        if not isinstance(data.get(name), str) or not data[name].strip():
            raise ValueError(f"field {name!r} is missing or not a string")
    pem = pem_block(data["private_key"])
    check_private_key(pem)
    return AuthorizedKey(
        key_id=data["id"].strip(),
        service_account_id=data["service_account_id"].strip(),
        private_key=Secret(pem, source),
        source=source,
    )


def pem_block(text: str) -> str:
    """The PEM block of a ``private_key`` field: `yc` puts a warning line before it."""
    start = text.find("-----BEGIN")
    return text[max(start, 0) :].strip()


def check_private_key(pem: str) -> None:
    """ValueError unless ``pem`` is an RSA private key (PS256 signs with RSA)."""
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("field 'private_key' is not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("field 'private_key' is not an RSA key (PS256 needs one)")
