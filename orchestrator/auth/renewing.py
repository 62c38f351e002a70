"""An IAM token renewed ahead of its expiry, once for every request in flight (single
flight), and renewed at once when the service refuses it; a renewal that fails is tried
again with backoff while the old token, if still valid, goes on being sent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from orchestrator.core.credentials import retry_after_failures, usable
from orchestrator.telemetry.logs import forget_secret, get_logger
from orchestrator.telemetry.metrics import DaemonMetrics

from .tokens import CredentialsError, CredentialsUnavailable, Token, TokenSource

log = get_logger()


class RenewingToken:
    """The current token of one source; ``ok`` is false while renewals fail."""

    def __init__(
        self,
        source: TokenSource,
        *,
        clock: Callable[[], float] = time.time,
        metrics: DaemonMetrics | None = None,
    ) -> None:
        self.source = source
        self.clock = clock
        self.metrics = metrics
        self.error: str | None = None  # the last renewal's failure, None once one succeeds
        self._token: Token | None = None
        self._refused: str | None = None  # a token the service answered 401 to
        self._failures = 0
        self._next_try = 0.0
        self._lock = asyncio.Lock()

    @property
    def ok(self) -> bool:
        """False while the last renewal failed."""
        return self.error is None

    def _fresh(self, token: Token | None, now: float) -> bool:
        return (
            token is not None
            and now < token.renew_at
            and usable(now, token.expires_at)
            and token.value != self._refused
        )

    async def token(self) -> Token:
        """A token to send now; CredentialsUnavailable when none can be had."""
        current = self._token
        if current is not None and self._fresh(current, self.clock()):
            return current
        return await self._renew(current)

    async def refused(self, value: str) -> bool:
        """The service answered 401 to ``value``: renew once for every request that sent
        it. True when another token is there to retry with."""
        current = self._token
        if current is None:
            return False
        if current.value != value:
            return True  # renewed since that request was sent
        self._refused = value
        if self.ok:
            self._next_try = 0.0  # renew at once, not at the backoff's next step
        await self.token()
        return True

    async def _renew(self, seen: Token | None) -> Token:
        async with self._lock:
            now = self.clock()
            current = self._token
            if current is not seen and self._fresh(current, now):
                assert current is not None
                return current  # renewed while this request waited for the lock
            if now >= self._next_try:
                await self._fetch(now)
            return self._usable(self.clock())

    async def _fetch(self, now: float) -> None:
        """One renewal, its outcome recorded."""
        try:
            fresh = await self.source.fetch(now)
            if fresh.value == self._refused:
                raise CredentialsError(
                    f"{self.source.name}: the service refused the token (401), and the "
                    "source gives no other"
                )
        except CredentialsError as exc:
            self._failed(now, str(exc))
            return
        old, self._token = self._token, fresh
        changed = old is None or old.value != fresh.value
        if old is not None and changed:
            forget_secret(old.value)
        self._refused = None
        if changed or self.error is not None:
            self._succeeded(fresh, now)

    def _usable(self, now: float) -> Token:
        """The token to send after a renewal: the new one, or the old one still valid."""
        current = self._token
        refused = current is None or current.value == self._refused
        if current is not None and not refused and usable(now, current.expires_at):
            return current
        raise CredentialsUnavailable(
            self.error or f"{self.source.name}: no IAM token",
            retry_after=max(0.0, self._next_try - now),
        )

    def _failed(self, now: float, error: str) -> None:
        self._failures += 1
        self._next_try = now + retry_after_failures(self._failures)
        if self.error != error:
            # One event when renewals start failing (or fail otherwise), not one per try.
            log.error("credentials.refresh_failed", source=self.source.name, error=error)
        self.error = error
        if self.metrics is not None:
            self.metrics.credentials_ok.set(0)
            self.metrics.credentials_refresh_failures.inc(source=self.source.name)

    def _succeeded(self, token: Token, now: float) -> None:
        if self.error is not None:
            log.info("credentials.recovered", source=self.source.name, failures=self._failures)
        self.error = None
        self._failures = 0
        self._next_try = 0.0
        if self.metrics is not None:
            self.metrics.credentials_ok.set(1)
            self.metrics.credentials_refreshes.inc(source=self.source.name)
        expires_in = None if token.expires_at == float("inf") else round(token.expires_at - now)
        log.debug("credentials.refreshed", source=self.source.name, expires_in_s=expires_in)
