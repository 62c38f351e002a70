"""A TCP proxy on loopback that cuts connections at random: network trouble on demand.

    async with CuttingProxy("127.0.0.1", 9000, cut_rate=0.2, seed=1) as proxy:
        proxy.url          # http://127.0.0.1:PORT, to give the client instead of the server
        proxy.cuts         # connections cut so far

Each connection is drawn once: with probability ``cut_rate`` it is reset (RST, as a
crashed peer or a middlebox does) after a random number of bytes, in the request or in
the answer, so requests die before, during and after the server has acted on them.
``cut_rate=1.0, cut_within=0`` refuses every request: a server down.

``RefusingProxy`` answers every request ``403 AccessDenied``, as S3 answers credentials
that grant no rights on a bucket, until told to let them through.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from types import TracebackType
from typing import Self


class CuttingProxy:
    """Forwards every connection to ``host:port``; cuts some of them at random."""

    def __init__(
        self, host: str, port: int, *, cut_rate: float, seed: int = 0, cut_within: int = 2048
    ) -> None:
        self.host = host
        self.port = port
        self.cut_rate = cut_rate
        self.cut_within = cut_within  # a cut comes after 0..cut_within bytes (0: at once)
        self.rng = random.Random(seed)
        self.connections = 0
        self.cuts = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """The proxy's address as an http URL."""
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        # (direction, bytes to let through first) or None: drawn once per connection.
        cut = None
        if self.rng.random() < self.cut_rate:
            cut = (self.rng.choice(["request", "answer"]), self.rng.randint(0, self.cut_within))
        try:
            server_r, server_w = await asyncio.open_connection(self.host, self.port)
        except OSError:
            _reset(client_w)
            self._tasks.discard(task)
            return
        budget = {"request": None, "answer": None} if cut is None else {cut[0]: cut[1]}
        try:
            await asyncio.gather(
                self._pipe(client_r, server_w, budget.get("request"), (client_w, server_w)),
                self._pipe(server_r, client_w, budget.get("answer"), (client_w, server_w)),
            )
        finally:
            for writer in (client_w, server_w):
                with contextlib.suppress(Exception):
                    writer.close()
            self._tasks.discard(task)

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        budget: int | None,
        both: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
    ) -> None:
        """Copy until EOF; with a budget, reset both sides once it is spent."""
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    with contextlib.suppress(OSError):
                        writer.write_eof()
                    return
                if budget is not None and len(data) >= budget:
                    writer.write(data[:budget])
                    with contextlib.suppress(OSError):
                        await writer.drain()
                    self.cuts += 1
                    for side in both:
                        _reset(side)
                    return
                if budget is not None:
                    budget -= len(data)
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            for side in both:
                _reset(side)


# What S3 answers a request its credentials give no right to make.
ACCESS_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Access Denied</Message></Error>"
)


class RefusingProxy(CuttingProxy):
    """While ``refusing`` is false, forwards every connection to ``host:port``; while it
    is true, answers S3's ``403 AccessDenied`` to each request (of ``methods`` only, when
    given: a key that may upload but not delete) and forwards the others. One request per
    connection while refusing (each answer closes it); decided when a connection opens."""

    def __init__(self, host: str, port: int, *, methods: set[str] | None = None) -> None:
        super().__init__(host, port, cut_rate=0.0)
        self.refusing = True
        self.methods = methods
        self.refused = 0  # requests answered 403

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if not self.refusing:
            await super()._serve(client_r, client_w)
            return
        try:
            if await self._refuse(client_r, client_w):
                self.refused += 1
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            with contextlib.suppress(Exception):
                client_w.close()

    async def _refuse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Read one request (its body too, unless the client waits for ``100 Continue``)
        and answer it 403 AccessDenied, or pass it on; whether it was refused."""
        raw = await reader.readuntil(b"\r\n\r\n")
        head = raw.decode("latin-1")
        method = head.split(" ", 1)[0]
        headers = {}
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length") or 0)
        expects = headers.get("expect", "").lower() == "100-continue"
        if self.methods is not None and method not in self.methods:
            if expects:
                # Let the body come, and send the request on as one that expects nothing.
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                await writer.drain()
                raw = b"\r\n".join(
                    line for line in raw.split(b"\r\n") if not line.lower().startswith(b"expect:")
                )
            body = await reader.readexactly(length)
            await _forward(self.host, self.port, method, raw + body, writer)
            return False
        if not expects:
            await reader.readexactly(length)
        await _deny(method, writer)
        return True


async def _forward(
    host: str, port: int, method: str, request: bytes, writer: asyncio.StreamWriter
) -> None:
    """Send one whole request on to the server and its answer back, telling the client to
    close the connection (so that its next request is looked at too)."""
    server_r, server_w = await asyncio.open_connection(host, port)
    try:
        server_w.write(request)
        await server_w.drain()
        head = await server_r.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        has_body = method != "HEAD" and status not in (204, 304)
        body = await server_r.readexactly(length) if has_body else b""
        writer.write(head[:-2] + b"Connection: close\r\n\r\n" + body)
        await writer.drain()
    finally:
        server_w.close()


async def _deny(method: str, writer: asyncio.StreamWriter) -> None:
    """Answer S3's 403 AccessDenied (no body to a HEAD), and close."""
    body = b"" if method == "HEAD" else ACCESS_DENIED
    writer.write(
        b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\n"
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    await writer.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset rather than an orderly FIN."""
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError):
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
