"""The status server over real HTTP on a free loopback port."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from orchestrator.service.status_server import (
    METRICS_CONTENT_TYPE,
    PAGE_CONTENT_TYPE,
    Limits,
    StatusServer,
    StatusServerError,
)
from orchestrator.telemetry.metrics import DaemonMetrics

P = "speechkit_orchestrator_"


@dataclass
class Daemon:
    """Stands in for the daemon's state that the callbacks read."""

    healthy: bool = True
    health_error: Exception | None = None
    metrics: DaemonMetrics = field(default_factory=DaemonMetrics)
    refreshes: int = 0

    async def health(self) -> bool:
        """The health callback: raises or answers as the test set it."""
        if self.health_error is not None:
            raise self.health_error
        return self.healthy

    async def status(self) -> dict[str, Any]:
        """The status callback, with a value only ``default=str`` can serialise."""
        return {"jobs": {"running": 2}, "ready": True, "state_file": self}

    async def page(self) -> str:
        """The page callback: a page that names the daemon's health."""
        return f"<!doctype html><title>status</title><p id=healthy>{self.healthy}</p>"

    async def refresh(self) -> None:
        """The pre-scrape hook: counts its calls in the jobs gauge."""
        self.refreshes += 1
        self.metrics.set_jobs_by_state({"running": 2, "done": self.refreshes})

    def __str__(self) -> str:
        return "/var/lib/speechkit-orchestrator/state.sqlite"


@dataclass
class Running:
    """A started server, its daemon stand-in, its base URL and an HTTP client."""

    daemon: Daemon
    url: str
    http: aiohttp.ClientSession


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    """A status server on a free loopback port, stopped after the test."""
    daemon = Daemon()
    server = StatusServer(
        "127.0.0.1",
        0,
        daemon.health,
        daemon.status,
        daemon.metrics,
        refresh=daemon.refresh,
        page=daemon.page,
    )
    host, port = await server.start()
    assert port != 0
    try:
        async with aiohttp.ClientSession() as http:
            yield Running(daemon, f"http://{host}:{port}", http)
    finally:
        await server.stop()


async def test_healthz_ok_while_healthy(running: Running) -> None:
    async with running.http.get(running.url + "/healthz") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ok"}


async def test_healthz_503_when_unhealthy(running: Running) -> None:
    running.daemon.healthy = False
    async with running.http.get(running.url + "/healthz") as response:
        assert response.status == 503
        assert await response.json() == {"status": "unavailable"}


async def test_healthz_503_when_the_check_raises(running: Running) -> None:
    running.daemon.health_error = OSError("disk I/O error")
    with capture_logs() as logs:
        async with running.http.get(running.url + "/healthz") as response:
            assert response.status == 503
            assert "disk" not in await response.text()
    assert logs[0]["event"] == "status_server.health_check_failed"
    assert "disk I/O error" in logs[0]["error"]


async def test_metrics_parse_with_prometheus_client(running: Running) -> None:
    metrics = running.daemon.metrics
    metrics.record_request("v2.submit", 200)
    metrics.record_request("v2.submit", 200)
    metrics.throttled.inc(quota="submit")
    metrics.set_quota("status", used=100, left=2350)
    metrics.status_check_lag.observe(3.0)

    async with running.http.get(running.url + "/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == METRICS_CONTENT_TYPE
        text = await response.text()

    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families[P + "api_requests"].type == "counter"
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in families.values()
        for s in family.samples
    }
    assert samples[(P + "api_requests_total", (("endpoint", "v2.submit"), ("status", "200")))] == 2
    assert samples[(P + "throttled_total", (("quota", "submit"),))] == 1
    assert samples[(P + "quota_left", (("quota", "status"),))] == 2350
    assert samples[(P + "status_check_lag_seconds_bucket", (("le", "5.0"),))] == 1
    assert samples[(P + "status_check_lag_seconds_bucket", (("le", "2.0"),))] == 0
    # The refresh hook ran before this render.
    assert samples[(P + "jobs", (("state", "done"),))] == 1
    assert samples[(P + "jobs", (("state", "running"),))] == 2


async def test_status_json(running: Running) -> None:
    async with running.http.get(running.url + "/status") as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        assert await response.json() == {
            "jobs": {"running": 2},
            "ready": True,
            "state_file": "/var/lib/speechkit-orchestrator/state.sqlite",
        }


async def test_the_page_is_html_that_may_run_no_script(running: Running) -> None:
    async with running.http.get(running.url + "/") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == PAGE_CONTENT_TYPE
        assert await response.text() == (
            "<!doctype html><title>status</title><p id=healthy>True</p>"
        )
        policy = response.headers["Content-Security-Policy"]
        # Nothing may load or run: a name that slipped through as markup would stay inert.
        assert "default-src 'none'" in policy
        assert "script-src" not in policy
        assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_no_page_without_a_page_callback() -> None:
    daemon = Daemon()
    server = StatusServer("127.0.0.1", 0, daemon.health, daemon.status, daemon.metrics)
    host, port = await server.start()
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://{host}:{port}/") as response,
        ):
            assert response.status == 404
    finally:
        await server.stop()


async def test_a_scrape_says_whether_the_daemon_is_healthy(running: Running) -> None:
    async def healthy_gauge() -> float:
        async with running.http.get(running.url + "/metrics") as response:
            text = await response.text()
        (family,) = [f for f in text_string_to_metric_families(text) if f.name == P + "healthy"]
        (sample,) = family.samples
        return float(sample.value)

    assert await healthy_gauge() == 1
    running.daemon.healthy = False
    assert await healthy_gauge() == 0
    running.daemon.healthy = True
    running.daemon.health_error = OSError("disk I/O error")
    with capture_logs():
        assert await healthy_gauge() == 0


async def test_unknown_path_is_404(running: Running) -> None:
    async with running.http.get(running.url + "/admin") as response:
        assert response.status == 404


@pytest.mark.parametrize("host", ["0.0.0.0", "", "192.0.2.1"])
async def test_non_loopback_address_is_refused(host: str) -> None:
    daemon = Daemon()
    server = StatusServer(host, 0, daemon.health, daemon.status, daemon.metrics)
    with pytest.raises(StatusServerError, match=r"status\.listen_host: .* is not a loopback"):
        await server.start()


async def test_localhost_and_explicit_permission_are_accepted() -> None:
    daemon = Daemon()
    for server in (
        StatusServer("localhost", 0, daemon.health, daemon.status, daemon.metrics),
        StatusServer(
            "0.0.0.0", 0, daemon.health, daemon.status, daemon.metrics, allow_non_loopback=True
        ),
    ):
        _host, port = await server.start()
        try:
            assert port > 0
        finally:
            await server.stop()


async def test_port_in_use_is_a_clear_error(running: Running) -> None:
    port = int(running.url.rsplit(":", 1)[1])
    daemon = Daemon()
    server = StatusServer("127.0.0.1", port, daemon.health, daemon.status, daemon.metrics)
    with pytest.raises(StatusServerError, match=rf"status\.listen_port: .*:{port}: "):
        await server.start()


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:8787",
        "localhost.evil.example",
        "127.0.0.1.nip.io",
        "192.0.2.7",
    ],
)
async def test_a_foreign_host_header_is_refused(running: Running, host: str) -> None:
    # A DNS rebinding page reaches the port under its own name: it gets nothing.
    for path in ("/status", "/", "/metrics", "/healthz"):
        async with running.http.get(running.url + path, headers={"Host": host}) as response:
            assert response.status == 421
            assert "ready" not in await response.text()


@pytest.mark.parametrize(
    "host", ["localhost", "LOCALHOST:8787", "127.0.0.1", "127.0.0.1:1", "[::1]", "[::1]:8787"]
)
async def test_the_loopback_names_are_served(running: Running, host: str) -> None:
    async with running.http.get(running.url + "/status", headers={"Host": host}) as response:
        assert response.status == 200


async def test_the_configured_host_is_served() -> None:
    daemon = Daemon()
    server = StatusServer("localhost", 0, daemon.health, daemon.status, daemon.metrics)
    _host, port = await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/healthz"
            async with http.get(url, headers={"Host": f"localhost:{port}"}) as response:
                assert response.status == 200
            async with http.get(url, headers={"Host": "rebound.example"}) as response:
                assert response.status == 421
    finally:
        await server.stop()


async def raw_connection(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection that sends nothing until told."""
    return await asyncio.open_connection("127.0.0.1", port)


async def test_idle_connections_past_the_cap_give_way_and_slow_headers_time_out() -> None:
    daemon = Daemon()
    limits = Limits(max_connections=3, header_timeout_s=0.5, keepalive_timeout_s=0.5)
    server = StatusServer(
        "127.0.0.1", 0, daemon.health, daemon.status, daemon.metrics, limits=limits
    )
    _host, port = await server.start()
    try:
        idle = [await raw_connection(port) for _ in range(8)]
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/healthz") as response,
        ):
            assert response.status == 200
        # Every idle one was closed: given way to newer ones, or past its headers' deadline.
        for reader, writer in idle:
            assert await asyncio.wait_for(reader.read(), 5.0) == b""
            writer.close()
        reader, writer = await raw_connection(port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")  # never finished
        assert await asyncio.wait_for(reader.read(), 5.0) == b""
        writer.close()
    finally:
        await server.stop()


async def test_a_unix_socket_is_mode_0660(tmp_path: Path) -> None:
    daemon = Daemon()
    path = tmp_path / "status.sock"
    server = StatusServer(
        "127.0.0.1",
        None,
        daemon.health,
        daemon.status,
        daemon.metrics,
        limits=Limits(unix_path=str(path)),
    )
    await server.start()
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o660
        assert server.url == f"unix:{path}"
        connector = aiohttp.UnixConnector(path=str(path))
        async with (
            aiohttp.ClientSession(connector=connector) as http,
            http.get("http://localhost/healthz") as response,
        ):
            assert response.status == 200
    finally:
        await server.stop()
    assert not path.exists()
