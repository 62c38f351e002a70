"""The credential every SpeechKit request carries, built from the config's ``speechkit``
section: an API key or a static IAM token as they are, or an IAM token renewed from an
authorized key, the VM's metadata service or a token file. A reload swaps the source."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import aiohttp

from orchestrator.config import SpeechKitConfig
from orchestrator.telemetry.metrics import DaemonMetrics

from .renewing import RenewingToken
from .sources import AuthorizedKeySource, MetadataSource, TokenFileSource
from .tokens import TokenSource

# The keys of the speechkit section that choose and reach the credential.
CREDENTIAL_KEYS = (
    "api_key",
    "iam_token",
    "iam_token_path",
    "authorized_key",
    "metadata_token",
    "iam_url",
    "metadata_url",
    "folder_id",
)


def credential_settings(config: SpeechKitConfig) -> tuple[Any, ...]:
    """What a reload compares to decide whether the credential changed."""
    return tuple(getattr(config, key) for key in CREDENTIAL_KEYS)


def token_source(config: SpeechKitConfig, session: aiohttp.ClientSession) -> TokenSource | None:
    """The source of renewed IAM tokens the config names; None for a fixed credential."""
    timeout_s = config.request_timeout_s
    if config.authorized_key is not None:
        return AuthorizedKeySource(session, config.authorized_key, config.iam_url, timeout_s)
    if config.metadata_token:
        return MetadataSource(session, config.metadata_url, timeout_s)
    if config.iam_token is not None and config.iam_token_path is not None:
        return TokenFileSource(config.iam_token_path)
    return None


class Credentials:
    """The ``Authorization`` (and ``x-folder-id``) headers of every request."""

    def __init__(
        self,
        config: SpeechKitConfig,
        session: aiohttp.ClientSession,
        *,
        metrics: DaemonMetrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.session = session
        self.metrics = metrics
        self.clock = clock
        self.config = config
        self.renewing = self._renewing(config)
        if metrics is not None:
            metrics.credentials_ok.set(1)

    def _renewing(self, config: SpeechKitConfig) -> RenewingToken | None:
        source = token_source(config, self.session)
        if source is None:
            return None
        return RenewingToken(source, clock=self.clock, metrics=self.metrics)

    def reconfigure(self, config: SpeechKitConfig) -> bool:
        """Take a reloaded section's credential; True when it changed."""
        changed = credential_settings(config) != credential_settings(self.config)
        self.config = config
        if not changed:
            return False
        self.renewing = self._renewing(config)
        if self.metrics is not None:
            self.metrics.credentials_ok.set(1)
        return True

    @property
    def ok(self) -> bool:
        """False while renewing the IAM token fails."""
        return self.renewing is None or self.renewing.ok

    @property
    def error(self) -> str | None:
        """Why renewing the IAM token fails, None while it does not."""
        return None if self.renewing is None else self.renewing.error

    @property
    def source(self) -> str:
        """Which credential is in use: a log field and a status line (never its value)."""
        if self.renewing is not None:
            return self.renewing.source.name
        return "api_key" if self.config.api_key is not None else "iam_token"

    def api_key(self) -> str | None:
        """The API key, for the API that takes one in its query string (asr_xml)."""
        key = self.config.api_key
        return key.reveal() if key is not None else None

    async def headers(self) -> dict[str, str]:
        """The headers that authenticate a request; CredentialsUnavailable when no token
        can be had now (UserInputError when the config names no credential)."""
        if self.renewing is None:
            return self.config.auth_header()
        token = await self.renewing.token()
        headers = {"Authorization": f"Bearer {token.value}"}
        if self.config.folder_id:
            headers["x-folder-id"] = self.config.folder_id
        return headers

    async def refused(self, headers: dict[str, str]) -> bool:
        """The service answered 401 to a request sent with ``headers``: True when a renewed
        token is there to retry with (at most one renewal for all such requests)."""
        if self.renewing is None:
            return False
        scheme, _, value = headers.get("Authorization", "").partition(" ")
        return scheme == "Bearer" and await self.renewing.refused(value)
