"""What keeps the status server from being held by its clients: a cap on open connections
(so that idle clients cannot take the daemon's file descriptors) and a deadline for each
request's headers (so that a client that connects and sends nothing, or sends its headers
a byte at a time, is closed).

At the cap, a new connection takes the place of the one idle the longest (waiting for a
request, or quiet for a while): a probe that sends its request at once is served however
many idle clients came before it. Only when every connection is busy is the new one closed
at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from orchestrator.service.loop_errors import RateLimited
from orchestrator.telemetry.logs import get_logger

_log = get_logger()
_HEADER_END = b"\r\n\r\n"
# A connection quiet this long after its request is taken for an idle keep-alive.
_QUIET_S = 1.0


class ConnectionGuard:
    """A protocol factory for ``loop.create_server`` around aiohttp's: at most
    ``max_connections`` open, and each request's headers in ``header_timeout_s``."""

    def __init__(
        self,
        factory: Callable[[], asyncio.Protocol],
        max_connections: int,
        header_timeout_s: float,
    ) -> None:
        """``factory`` makes the protocol that serves a connection (aiohttp's server)."""
        self._factory = factory
        self.max_connections = max_connections
        self.header_timeout_s = header_timeout_s
        # Open connections, the least recently heard from first.
        self.connections: dict[_Guarded, None] = {}
        self._refusals = RateLimited("status_server.connections_refused", interval_s=60.0)
        self._evictions = RateLimited("status_server.idle_connections_closed", interval_s=60.0)

    @property
    def open(self) -> int:
        """How many connections are open."""
        return len(self.connections)

    def __call__(self) -> asyncio.Protocol:
        """The protocol for a new connection: aiohttp's, watched; or one that closes it."""
        if self.open >= self.max_connections:
            idle = self._idlest()
            if idle is None:
                self._refusals.warning(max_connections=self.max_connections)
                return _Refused()
            self._evictions.warning(max_connections=self.max_connections)
            idle.close()
        return _Guarded(self, self._factory())

    def _idlest(self) -> _Guarded | None:
        """The connection idle the longest, if any is idle."""
        now = asyncio.get_running_loop().time()
        for connection in self.connections:
            if connection.idle(now):
                return connection
        return None

    def heard(self, connection: _Guarded) -> None:
        """``connection`` was just heard from: last in the line to be closed."""
        self.connections.pop(connection, None)
        self.connections[connection] = None


class _Refused(asyncio.Protocol):
    """A connection past the cap: closed as soon as it is made, its descriptor freed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Close at once, without a word."""
        if isinstance(transport, asyncio.Transport):
            transport.abort()
        else:
            transport.close()


class _Guarded(asyncio.Protocol):
    """aiohttp's protocol for one connection, with the connection counted and closed when a
    request's headers do not arrive in time (idle keep-alives are aiohttp's to close)."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self._guard = guard
        self._inner = inner
        self._transport: asyncio.BaseTransport | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._tail = b""
        # Counted from now, not from connection_made: asyncio makes a batch of protocols
        # before the first of their connections is made.
        self._heard_at = asyncio.get_running_loop().time()
        self._closed = False
        guard.heard(self)

    def idle(self, now: float) -> bool:
        """Whether it waits for a request's headers, or has been quiet for a second (a
        keep-alive between requests; an answer takes less)."""
        return self._deadline is not None or now - self._heard_at > _QUIET_S

    def close(self) -> None:
        """Close the connection at once (as soon as it is made, if it is not yet)."""
        self._closed = True
        self._disarm()
        self._guard.connections.pop(self, None)
        if self._transport is not None and not self._transport.is_closing():
            if isinstance(self._transport, asyncio.Transport):
                self._transport.abort()
            else:
                self._transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """The first request's headers are awaited from now."""
        self._transport = transport
        self._inner.connection_made(transport)
        if self._closed:
            self.close()
            return
        self._heard_at = asyncio.get_running_loop().time()
        self._guard.heard(self)
        self._arm()

    def data_received(self, data: bytes) -> None:
        """Passed on; the deadline is off while what came ends with a request's headers
        (every request here is a GET, without a body), on otherwise."""
        self._heard_at = asyncio.get_running_loop().time()
        if not self._closed:
            self._guard.heard(self)
        seen = self._tail + data
        self._tail = seen[-len(_HEADER_END) :]
        if seen.endswith(_HEADER_END):
            self._disarm()
        else:
            self._arm()
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        """Passed on."""
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        """Uncounted, and passed on."""
        self._disarm()
        self._guard.connections.pop(self, None)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        """Passed on."""
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        """Passed on."""
        self._inner.resume_writing()

    def _arm(self) -> None:
        # Armed once per request: headers trickling in do not push the deadline back.
        if self._deadline is None:
            loop = asyncio.get_running_loop()
            self._deadline = loop.call_later(self._guard.header_timeout_s, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        self.close()
