"""The systemd notify protocol (sd_notify) with the standard library only.

A notification is one datagram of ``KEY=value`` lines sent to the AF_UNIX socket named by
``$NOTIFY_SOCKET`` (a filesystem path, or ``@name`` for an abstract socket).

Error policy: sending never raises. ``send`` returns ``True`` when the datagram was
delivered and ``False`` when notifications are off (no ``$NOTIFY_SOCKET``) or the send
failed; a failure is logged as ``notify.failed`` with the error, so a daemon keeps running
(systemd's start timeout or watchdog will act if the manager really missed a message).
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time
from collections.abc import Callable, Mapping

from orchestrator.telemetry.logs import get_logger

_log = get_logger()

# systemd's own queue is large; a send that still cannot go through in this time is reported
# rather than left to block the event loop.
_SEND_TIMEOUT_S = 1.0
_FIELD_NAME = re.compile(r"[A-Z][A-Z0-9_]*\Z")

FieldValue = str | int | float | bool


def _encode_address(raw: str) -> bytes | None:
    """The sockaddr for ``$NOTIFY_SOCKET``, or ``None`` when it is not an AF_UNIX address."""
    if raw.startswith("@"):
        # Linux abstract namespace: a leading NUL instead of the "@".
        return b"\0" + os.fsencode(raw[1:])
    if raw.startswith("/"):
        return os.fsencode(raw)
    return None


def _format_value(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    # A newline would start a new field: the protocol has no escaping, so flatten it.
    return str(value).replace("\n", " ")


class Notifier:
    """Sends sd_notify messages to the service manager, or nothing when not run by one."""

    def __init__(self, address: str | None = None, watchdog_usec: int | None = None) -> None:
        """``address`` as in ``$NOTIFY_SOCKET`` (None: a no-op notifier)."""
        self.address = address
        self._sockaddr = _encode_address(address) if address else None
        self._watchdog_usec = watchdog_usec

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Notifier:
        """A notifier for ``$NOTIFY_SOCKET`` and ``$WATCHDOG_USEC``/``$WATCHDOG_PID``."""
        address = environ.get("NOTIFY_SOCKET") or None
        if address is not None and _encode_address(address) is None:
            # e.g. "vsock:..." from a newer systemd: say so instead of failing every send.
            _log.warning("notify.unsupported_socket", notify_socket=address)
            address = None
        return cls(address, _watchdog_usec_from_env(environ))

    @property
    def enabled(self) -> bool:
        """Whether a service manager listens (``$NOTIFY_SOCKET`` was set and usable)."""
        return self._sockaddr is not None

    def send(self, **fields: FieldValue) -> bool:
        """Send one datagram with ``fields`` (``send(READY=1, STATUS="...")``); True if sent."""
        if self._sockaddr is None:
            return False
        lines = []
        for name, value in fields.items():
            if not _FIELD_NAME.match(name):
                raise ValueError(f"sd_notify field names are upper case: {name!r}")
            lines.append(f"{name}={_format_value(value)}")
        payload = ("\n".join(lines) + "\n").encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.settimeout(_SEND_TIMEOUT_S)
                sock.sendto(payload, self._sockaddr)
        except OSError as exc:
            _log.warning(
                "notify.failed",
                notify_socket=self.address,
                fields=sorted(fields),
                error=f"{type(exc).__name__}: {exc}",
            )
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Tell the manager start-up (or a reload) is complete: ``READY=1``."""
        if status is None:
            return self.send(READY=1)
        return self.send(READY=1, STATUS=status)

    def status(self, text: str) -> bool:
        """Set the one-line status ``systemctl status`` shows: ``STATUS=...``."""
        return self.send(STATUS=text)

    def stopping(self, status: str | None = None) -> bool:
        """Tell the manager the daemon is draining before exit: ``STOPPING=1``."""
        if status is None:
            return self.send(STOPPING=1)
        return self.send(STOPPING=1, STATUS=status)

    def reloading(self) -> bool:
        """Tell the manager a reload began (``Type=notify-reload`` wants the monotonic time)."""
        now_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send(RELOADING=1, MONOTONIC_USEC=now_usec)

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for ``seconds`` more before the current start/stop timeout fires."""
        return self.send(EXTEND_TIMEOUT_USEC=max(0, int(seconds * 1_000_000)))

    def watchdog(self) -> bool:
        """Ping the watchdog: ``WATCHDOG=1``."""
        return self.send(WATCHDOG=1)

    def watchdog_interval(self) -> float | None:
        """``WatchdogSec`` in seconds when the manager watches this process, else None."""
        if self._sockaddr is None or self._watchdog_usec is None:
            return None
        return self._watchdog_usec / 1_000_000


def _watchdog_usec_from_env(environ: Mapping[str, str]) -> int | None:
    """``$WATCHDOG_USEC`` if it is meant for this process (``$WATCHDOG_PID``), else None."""
    raw = environ.get("WATCHDOG_USEC")
    if not raw:
        return None
    pid = environ.get("WATCHDOG_PID")
    # A child that inherited the variables must not ping on its parent's behalf.
    if pid and pid.strip() != str(os.getpid()):
        return None
    try:
        usec = int(raw)
    except ValueError:
        usec = 0
    if usec <= 0:
        _log.warning("notify.bad_watchdog_usec", watchdog_usec=raw)
        return None
    return usec


async def watchdog_task(
    notifier: Notifier,
    interval_fraction: float = 0.5,
    health: Callable[[], bool] | None = None,
) -> None:
    """Ping the watchdog every ``interval_fraction`` of ``WatchdogSec`` while the loop runs.

    Returns at once when there is no watchdog. A ping is skipped while ``health()`` is false
    (or raises), so a stuck daemon is restarted as surely as one whose loop is blocked.
    Runs until cancelled.
    """
    if not 0 < interval_fraction <= 0.5:
        raise ValueError("interval_fraction must be in (0, 0.5]")
    interval = notifier.watchdog_interval()
    if interval is None:
        return
    period = interval * interval_fraction
    was_healthy = True
    while True:
        healthy = _check(health)
        if healthy:
            notifier.watchdog()
        elif was_healthy:
            # Logged on the transition only: the journal gets one line, not one per period.
            _log.warning("watchdog.unhealthy", watchdog_sec=interval)
        if healthy and not was_healthy:
            _log.info("watchdog.healthy")
        was_healthy = healthy
        await asyncio.sleep(period)


def _check(health: Callable[[], bool] | None) -> bool:
    if health is None:
        return True
    try:
        return bool(health())
    except Exception as exc:
        _log.warning("watchdog.health_check_failed", error=f"{type(exc).__name__}: {exc}")
        return False
