"""A TCP proxy on loopback that cuts connections at random: network trouble on demand.

    async with CuttingProxy("127.0.0.1", 9000, cut_rate=0.2, seed=1) as proxy:
        proxy.url          # http://127.0.0.1:PORT, to give the client instead of the server
        proxy.cuts         # connections cut so far

Each connection is drawn once: with probability ``cut_rate`` it is reset (RST, as a
crashed peer or a middlebox does) after a random number of bytes, in the request or in
the answer, so requests die before, during and after the server has acted on them.
``cut_rate=1.0, cut_within=0`` refuses every request: a server down.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from types import TracebackType


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

    async def __aenter__(self) -> CuttingProxy:
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


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset rather than an orderly FIN."""
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError):
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
