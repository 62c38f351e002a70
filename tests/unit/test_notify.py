"""sd_notify over real AF_UNIX datagram sockets bound by the test."""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from orchestrator.service.notify import Notifier, watchdog_task


def _fields(datagram: bytes) -> dict[str, str]:
    text = datagram.decode()
    assert text.endswith("\n")
    return dict(line.split("=", 1) for line in text.splitlines())


@pytest.fixture
def path_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    """A datagram socket bound to a filesystem path, as systemd binds NOTIFY_SOCKET."""
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(5)
        yield str(path), sock


@pytest.fixture
def abstract_socket() -> Iterator[tuple[str, socket.socket]]:
    """A datagram socket in the abstract namespace ("@name" in NOTIFY_SOCKET)."""
    name = f"speechkit-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        yield "@" + name, sock


def test_messages_reach_a_path_socket(path_socket: tuple[str, socket.socket]) -> None:
    address, sock = path_socket
    notifier = Notifier.from_env({"NOTIFY_SOCKET": address})
    assert notifier.enabled

    assert notifier.ready(status="3 queued")
    assert _fields(sock.recv(4096)) == {"READY": "1", "STATUS": "3 queued"}
    assert notifier.status("2 running\n1 done")
    assert _fields(sock.recv(4096)) == {"STATUS": "2 running 1 done"}
    assert notifier.watchdog()
    assert _fields(sock.recv(4096)) == {"WATCHDOG": "1"}
    assert notifier.stopping()
    assert _fields(sock.recv(4096)) == {"STOPPING": "1"}
    assert notifier.extend_timeout(1.5)
    assert _fields(sock.recv(4096)) == {"EXTEND_TIMEOUT_USEC": "1500000"}


def test_messages_reach_an_abstract_socket(abstract_socket: tuple[str, socket.socket]) -> None:
    address, sock = abstract_socket
    notifier = Notifier.from_env({"NOTIFY_SOCKET": address})

    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert notifier.reloading()
    fields = _fields(sock.recv(4096))
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000

    assert fields["RELOADING"] == "1"
    assert before <= int(fields["MONOTONIC_USEC"]) <= after
    assert notifier.ready()
    assert _fields(sock.recv(4096)) == {"READY": "1"}


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = Notifier.from_env({"WATCHDOG_USEC": "30000000"})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog_interval() is None


def test_unsupported_address_is_logged_and_disabled() -> None:
    with capture_logs() as logs:
        notifier = Notifier.from_env({"NOTIFY_SOCKET": "vsock:2:1234"})
    assert not notifier.enabled
    assert [e["event"] for e in logs] == ["notify.unsupported_socket"]


def test_failed_send_is_logged_and_returns_false(tmp_path: Path) -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})
    with capture_logs() as logs:
        assert notifier.ready() is False
    assert logs[0]["event"] == "notify.failed"
    assert logs[0]["log_level"] == "warning"
    assert "FileNotFoundError" in logs[0]["error"]


def test_lower_case_field_names_are_refused(path_socket: tuple[str, socket.socket]) -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path_socket[0]})
    with pytest.raises(ValueError, match="upper case"):
        notifier.send(ready=1)


def test_watchdog_interval_respects_watchdog_pid(path_socket: tuple[str, socket.socket]) -> None:
    address = path_socket[0]
    mine = Notifier.from_env(
        {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}
    )
    assert mine.watchdog_interval() == 30.0
    unpinned = Notifier.from_env({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "2500000"})
    assert unpinned.watchdog_interval() == 2.5
    other = Notifier.from_env(
        {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}
    )
    assert other.watchdog_interval() is None
    with capture_logs() as logs:
        bad = Notifier.from_env({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "soon"})
    assert bad.watchdog_interval() is None
    assert logs[0]["event"] == "notify.bad_watchdog_usec"


async def test_watchdog_task_pings_only_while_healthy(
    path_socket: tuple[str, socket.socket],
) -> None:
    address, sock = path_socket
    sock.setblocking(False)
    notifier = Notifier.from_env({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "20000"})
    # A check that raises counts as unhealthy.
    answers: Iterator[bool | None] = iter([False, None, True, False, True])
    healthy_calls = 0

    def health() -> bool:
        nonlocal healthy_calls
        answer = next(answers, True)
        if answer is None:
            raise RuntimeError("store closed")
        healthy_calls += answer
        return answer

    loop = asyncio.get_running_loop()
    with capture_logs() as logs:
        task = asyncio.create_task(watchdog_task(notifier, health=health))
        pings = [await asyncio.wait_for(loop.sock_recv(sock, 4096), 5) for _ in range(3)]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    while True:
        try:
            pings.append(sock.recv(4096))
        except BlockingIOError:
            break

    assert all(_fields(p) == {"WATCHDOG": "1"} for p in pings)
    # One datagram per healthy check and none for the unhealthy ones.
    assert len(pings) == healthy_calls
    events = [e["event"] for e in logs]
    assert events[:5] == [
        "watchdog.unhealthy",
        "watchdog.health_check_failed",
        "watchdog.healthy",
        "watchdog.unhealthy",
        "watchdog.healthy",
    ]


async def test_watchdog_task_returns_without_a_watchdog(
    path_socket: tuple[str, socket.socket],
) -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path_socket[0]})
    await asyncio.wait_for(watchdog_task(notifier), 5)


async def test_watchdog_task_refuses_a_late_fraction() -> None:
    with pytest.raises(ValueError, match="interval_fraction"):
        await watchdog_task(Notifier(), interval_fraction=0.9)
