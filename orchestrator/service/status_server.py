"""The status server on loopback: ``/`` (the status page), ``/healthz``, ``/metrics``
(Prometheus) and ``/status`` (JSON).

It has no authentication, so it refuses to listen beyond loopback unless told otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import json
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import web

from orchestrator.service.status_guard import ConnectionGuard
from orchestrator.telemetry.logs import get_logger
from orchestrator.telemetry.metrics import DaemonMetrics

_log = get_logger()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PAGE_CONTENT_TYPE = "text/html; charset=utf-8"
# The page takes no script, no style sheet and no frame from anywhere: whatever a manifest
# or a file name smuggled into it could not run, even if escaping failed.
PAGE_SECURITY = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; form-action 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# Scrapes are quick; on stop, an in-flight request gets this long before it is cut.
_SHUTDOWN_TIMEOUT_S = 2.0
# The Unix socket: the daemon's user and group may connect (systemd's RuntimeDirectory=
# and the group decide who else).
UNIX_SOCKET_MODE = 0o660
# asyncio accepts up to the backlog's count of connections at a time before any is served
# or closed: kept small, a flood holds few descriptors at once beyond max_connections.
_BACKLOG = 16
# A listen_host meaning every address (allowed only with allow_non_loopback).
_EVERY_ADDRESS = ("0.0.0.0", "::", "")


def host_name(header: str) -> str:
    """The name in a ``Host`` header, without its port, lowercased (``[::1]:80`` -> ``::1``)."""
    name = header.strip().lower()
    if name.startswith("["):
        return name[1 : name.find("]")] if "]" in name else name
    if name.count(":") == 1:
        name = name.split(":", 1)[0]
    return name.rstrip(".")


def host_allowed(header: str | None, configured: str) -> bool:
    """Whether a request's ``Host`` may be served: ``localhost``, a loopback address, the
    configured host, or (listening on every address) any address: a DNS rebinding page
    reaches the port only under a name of its own. A request without one (HTTP/1.0: no
    browser sends it) is served too."""
    if header is None:
        return True
    name = host_name(header)
    if name in ("localhost", host_name(configured)):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or host_name(configured) in _EVERY_ADDRESS


@dataclass(frozen=True)
class Limits:
    """How far clients may hold the server: open connections, seconds for a request's
    headers and for an idle keep-alive; and a Unix socket to listen on too, if any."""

    max_connections: int = 64
    header_timeout_s: float = 10.0
    keepalive_timeout_s: float = 15.0
    unix_path: str | None = None


class StatusServerError(Exception):
    """The status server cannot start as configured (address not allowed, port taken)."""


async def _is_loopback(host: str) -> bool:
    """Whether every address ``host`` names is a loopback address."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    addresses = {ipaddress.ip_address(info[4][0]) for info in infos}
    return bool(addresses) and all(address.is_loopback for address in addresses)


class StatusServer:
    """An aiohttp server answering ``/healthz``, ``/metrics``, ``/status`` and, given a
    ``page``, ``/``."""

    def __init__(  # noqa: PLR0913 (wiring: the options are keywords with defaults)
        self,
        host: str,
        port: int | None,
        health: Callable[[], Awaitable[bool]],
        status: Callable[[], Awaitable[dict[str, Any]]],
        metrics: DaemonMetrics,
        *,
        allow_non_loopback: bool = False,
        refresh: Callable[[], Awaitable[None]] | None = None,
        health_timeout_s: float = 5.0,
        page: Callable[[], Awaitable[str]] | None = None,
        problems: Callable[[], list[str]] | None = None,
        limits: Limits | None = None,
    ) -> None:
        """``refresh``, if given, is awaited before each ``/metrics`` render (e.g. job
        counts); ``page``, if given, makes the HTML answered at ``/``; ``problems``, if
        given, names what degrades the daemon (no credential): ``/healthz`` says it;
        ``limits`` bound the clients (and may name a Unix socket to listen on too)."""
        self.host = host
        self.port = port
        self.limits = limits or Limits()
        self._servers: list[asyncio.AbstractServer] = []
        self.url = ""
        self._health = health
        self._status = status
        self._metrics = metrics
        self._allow_non_loopback = allow_non_loopback
        self._refresh = refresh
        self._health_timeout_s = health_timeout_s
        self._page = page
        self._problems = problems or (lambda: [])
        self._runner: web.AppRunner | None = None

    async def start(self) -> tuple[str, int]:
        """Listen and return the actual ``(host, port)`` (port 0 picks a free one; with no
        port, only the Unix socket: its path and 0)."""
        if self._runner is not None:
            raise RuntimeError("the status server is already running")
        if not self._allow_non_loopback and not await _is_loopback(self.host):
            raise StatusServerError(
                f"status.listen_host: {self.host!r} is not a loopback address; the status "
                "server has no authentication, so use 127.0.0.1, ::1 or localhost"
            )
        # Scrapes every few seconds would drown the journal: no access log.
        runner = web.AppRunner(
            self._app(),
            access_log=None,
            shutdown_timeout=_SHUTDOWN_TIMEOUT_S,
            keepalive_timeout=self.limits.keepalive_timeout_s,
        )
        await runner.setup()
        assert runner.server is not None
        guard = ConnectionGuard(
            runner.server, self.limits.max_connections, self.limits.header_timeout_s
        )
        try:
            address = await self._listen(guard)
        except BaseException:
            await self._close_servers()
            await runner.cleanup()
            raise
        self._runner = runner
        _log.info("status_server.started", host=address[0], port=address[1], url=self.url)
        return address

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._check_host])
        if self._page is not None:
            app.router.add_get("/", self._handle_page)
        app.router.add_get("/healthz", self._handle_healthz)
        app.router.add_get("/metrics", self._handle_metrics)
        app.router.add_get("/status", self._handle_status)
        return app

    async def _listen(self, guard: ConnectionGuard) -> tuple[str, int]:
        """Open the listeners (the Unix socket first, then the port) for ``guard``."""
        loop = asyncio.get_running_loop()
        unix = self.limits.unix_path
        address = (unix or "", 0)
        if unix is not None:
            try:
                server = await loop.create_unix_server(guard, unix, backlog=_BACKLOG)
                os.chmod(unix, UNIX_SOCKET_MODE)
            except OSError as exc:
                raise StatusServerError(
                    f"status.listen_unix: cannot listen on {unix}: {exc.strerror or exc}"
                ) from exc
            self._servers.append(server)
            self.url = f"unix:{unix}"
        if self.port is not None:
            try:
                server = await loop.create_server(guard, self.host, self.port, backlog=_BACKLOG)
            except OSError as exc:
                raise StatusServerError(
                    f"status.listen_port: cannot listen on {self.host}:{self.port}: {exc.strerror}"
                ) from exc
            self._servers.append(server)
            host, port = server.sockets[0].getsockname()[:2]
            address = (str(host), int(port))
            shown = f"[{host}]" if ":" in str(host) else str(host)
            self.url = f"http://{shown}:{port}"
        return address

    async def _close_servers(self) -> None:
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()

    async def stop(self) -> None:
        """Stop listening and close open connections; a no-op when not running."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await self._close_servers()
            await runner.cleanup()
            if self.limits.unix_path is not None:
                with contextlib.suppress(OSError):
                    os.unlink(self.limits.unix_path)

    @web.middleware
    async def _check_host(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Refuse a request under a foreign name (DNS rebinding) before any handler runs."""
        if not host_allowed(request.headers.get("Host"), self.host):
            return web.json_response(
                {"error": "misdirected request: use localhost or the listen address"},
                status=HTTPStatus.MISDIRECTED_REQUEST,
            )
        return await handler(request)

    async def _healthy(self) -> bool:
        """What ``/healthz`` answers, and the ``healthy`` gauge shows."""
        try:
            healthy = await asyncio.wait_for(self._health(), self._health_timeout_s)
            healthy = healthy and not self._problems()
        except Exception as exc:
            # The reason goes to the log only: the answer is for a probe, not a person.
            _log.warning("status_server.health_check_failed", error=f"{type(exc).__name__}: {exc}")
            healthy = False
        self._metrics.healthy.set(1 if healthy else 0)
        return healthy

    async def _handle_healthz(self, _request: web.Request) -> web.Response:
        if await self._healthy():
            return web.json_response({"status": "ok"})
        problems = self._problems()
        if problems:
            # Running, but its jobs wait: the reasons hold no secret.
            return web.json_response({"status": "degraded", "problems": problems}, status=503)
        return web.json_response({"status": "unavailable"}, status=503)

    async def _handle_metrics(self, _request: web.Request) -> web.Response:
        # A scrape says whether the daemon is healthy too: an alert needs no second probe.
        await self._healthy()
        if self._refresh is not None:
            try:
                await self._refresh()
            except Exception as exc:
                # Stale figures beat no figures: the scrape goes on with what is known.
                _log.warning("status_server.refresh_failed", error=f"{type(exc).__name__}: {exc}")
        return web.Response(
            body=self._metrics.render().encode(),
            headers={"Content-Type": METRICS_CONTENT_TYPE},
        )

    async def _handle_status(self, _request: web.Request) -> web.Response:
        payload = await self._status()
        return web.json_response(
            payload, dumps=functools.partial(json.dumps, default=str, ensure_ascii=False)
        )

    async def _handle_page(self, _request: web.Request) -> web.Response:
        assert self._page is not None
        return web.Response(
            text=await self._page(),
            headers={"Content-Type": PAGE_CONTENT_TYPE, **PAGE_SECURITY},
        )
