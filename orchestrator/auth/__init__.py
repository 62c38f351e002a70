"""Credentials for SpeechKit: API keys and IAM tokens, renewed from a service account's
authorized key, the VM's metadata service or a token file (nothing of the APIs)."""

from __future__ import annotations

from .credentials import Credentials, credential_settings, token_source
from .renewing import RenewingToken
from .sources import AuthorizedKeySource, MetadataSource, TokenFileSource
from .tokens import CredentialsError, CredentialsUnavailable, Token, TokenSource

__all__ = [
    "AuthorizedKeySource",
    "Credentials",
    "CredentialsError",
    "CredentialsUnavailable",
    "MetadataSource",
    "RenewingToken",
    "Token",
    "TokenFileSource",
    "TokenSource",
    "credential_settings",
    "token_source",
]
