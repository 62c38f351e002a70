"""A webhook receiver on loopback for the hooks' tests: it checks each request's signature
as a real receiver would, records it, and answers as the test tells it to."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

from orchestrator.core.hooks import DELIVERY_HEADER, EVENT_HEADER, verify


@dataclass
class Received:
    """One request as it came."""

    path: str
    delivery_id: str
    event: str
    body: bytes
    signed: bool  # the signature matched, and the timestamp was fresh


@dataclass
class Receiver:
    """What the receiver saw; ``answer(path, nth)`` chooses the status of each request
    (nth counts from 1 over all requests), and ``hold`` keeps requests open until set."""

    secret: str
    answer: Callable[[str, int], int] = lambda _path, _nth: 200
    hold: asyncio.Event | None = None
    received: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        nth = len(self.received) + 1
        self.received.append(
            Received(
                path=request.path,
                delivery_id=request.headers.get(DELIVERY_HEADER, ""),
                event=request.headers.get(EVENT_HEADER, ""),
                body=body,
                signed=verify(
                    self.secret, request.headers, body, self.url + request.raw_path, time.time()
                ),
            )
        )
        self.arrived.set()
        if self.hold is not None:
            await self.hold.wait()
        return web.Response(status=self.answer(request.path, nth), text="ok\n")


@asynccontextmanager
async def webhook_receiver(
    secret: str, answer: Callable[[str, int], int] | None = None
) -> AsyncIterator[Receiver]:
    """A receiver listening on a free loopback port; its base URL is ``url``."""
    receiver = Receiver(secret=secret)
    if answer is not None:
        receiver.answer = answer
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    receiver.url = f"http://127.0.0.1:{port}"
    try:
        yield receiver
    finally:
        if receiver.hold is not None:
            receiver.hold.set()
        await runner.cleanup()
