"""One attempt at a completion hook: run a command, or POST a signed webhook (the I/O
around ``core.hooks``; what follows an attempt is decided there)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Mapping, Sequence

import aiohttp

from orchestrator import __version__
from orchestrator.core.hooks import Attempt, command_outcome, signature_headers, tail
from orchestrator.core.hooks import webhook_outcome as outcome_of_status

# What of a command's stderr is kept for the log and `status`: its end.
STDERR_TAIL_CHARS = 500
_STDERR_KEEP_BYTES = 8192
# The daemon's environment holds its credentials: a command gets only these of it.
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "HOME", "TMPDIR")
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
# After the command exits, its stderr is read this much longer at most.
DRAIN_AFTER_EXIT_S = 1.0
# A command killed at its timeout is waited for this long (its exit status).
KILL_WAIT_S = 5.0
_POLL_S = 0.05


def command_env(extra: Mapping[str, str]) -> dict[str, str]:
    """A command's environment: a few harmless variables of the daemon's, and ``extra``."""
    env = {name: os.environ[name] for name in PASSED_ENV if name in os.environ}
    env.setdefault("PATH", DEFAULT_PATH)
    env.update(extra)
    return env


async def run_command(
    argv: Sequence[str], report_path: str, body: bytes, timeout_s: float, env: Mapping[str, str]
) -> tuple[Attempt, int | None]:
    """Run ``argv`` with the report's path as its last argument and ``body`` on stdin,
    killed (with its process group) after ``timeout_s``; the outcome and the exit status.
    No shell: the arguments are passed as they are.

    The attempt ends with the command: its stderr is read for at most ``DRAIN_AFTER_EXIT_S``
    more, since a child it left behind (``sleep 30 &``, or one in a session of its own that
    the kill does not reach) may hold it open for as long as it likes."""
    read_fd, write_fd = os.pipe()
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            report_path,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=write_fd,
            env=dict(env),
            start_new_session=True,  # its children are killed with it
        )
    except OSError as exc:
        os.close(read_fd)
        reason = exc.strerror or type(exc).__name__
        # A program that is not there (or not executable) will not be there in a minute.
        return Attempt(ok=False, error=f"cannot run {argv[0]}: {reason}"), None
    finally:
        os.close(write_fd)
    loop = asyncio.get_running_loop()
    kept = _Tail(loop)
    reading, _ = await loop.connect_read_pipe(lambda: kept, os.fdopen(read_fd, "rb", 0))
    feeding = asyncio.create_task(_feed(process, body))
    try:
        timed_out = not await _exited(process, timeout_s)
        if timed_out:
            _kill(process)
            await _exited(process, KILL_WAIT_S)
        await asyncio.wait((kept.closed, feeding), timeout=DRAIN_AFTER_EXIT_S)
    except BaseException:
        # Cancelled (the daemon stops): the command does not outlive the attempt, which
        # stays pending and is made again at the next start.
        _kill(process)
        raise
    finally:
        feeding.cancel()
        reading.close()
        assert process.stdin is not None
        if not process.stdin.transport.is_closing():
            process.stdin.transport.abort()  # a child left behind may hold its other end
    status = process.returncode
    outcome = command_outcome(status, tail(bytes(kept.data), STDERR_TAIL_CHARS), timed_out)
    return outcome, status


class _Tail(asyncio.Protocol):
    """The end of a command's stderr (bounded, whatever it writes), and when it closed."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.data = bytearray()
        self.closed: asyncio.Future[None] = loop.create_future()

    def data_received(self, data: bytes) -> None:
        """Keep the end of what came."""
        self.data.extend(data)
        del self.data[:-_STDERR_KEEP_BYTES]

    def connection_lost(self, exc: Exception | None) -> None:
        """Every writer has closed it (or the attempt did)."""
        if not self.closed.done():
            self.closed.set_result(None)


async def _feed(process: asyncio.subprocess.Process, body: bytes) -> None:
    assert process.stdin is not None
    # A command that does not read its stdin closes it: that is its right.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        process.stdin.write(body)
        await process.stdin.drain()
        process.stdin.close()


async def _exited(process: asyncio.subprocess.Process, limit_s: float) -> bool:
    """Whether the command has exited within ``limit_s``. Its exit status is looked at, not
    ``process.wait()``, which also waits for every pipe a child of it still holds."""
    deadline = time.monotonic() + limit_s
    while process.returncode is None:
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(_POLL_S)
    return True


def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: the backoff decides
    return seconds if 0 <= seconds <= 86400 else None


async def post_webhook(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    secret: str,
    delivery_id: str,
    timestamp: int,
    timeout_s: float,
) -> tuple[Attempt, int | None]:
    """POST the report, signed; the outcome and the HTTP status. Redirects are not followed
    (the URL asked for is the one the allow-list judged)."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"speechkit-orchestrator/{__version__}",
        **signature_headers(secret, delivery_id, timestamp, url, body),
    }
    try:
        async with session.post(
            url,
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            allow_redirects=False,
        ) as response:
            status = response.status
            retry_after = _retry_after(response.headers.get("Retry-After"))
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return Attempt(ok=False, error=failure_reason(exc), retryable=True), None
    return outcome_of_status(status, retry_after), status


def failure_reason(exc: BaseException) -> str:
    """What went wrong with a request, for the log, the store and ``status``: the kind of
    trouble and its reason, never the URL (aiohttp's messages may quote it, normalised, so
    with a token in its query or path that no comparison would catch)."""
    name = type(exc).__name__
    if isinstance(exc, aiohttp.InvalidURL):
        return f"{name}: not a URL the HTTP client can use"
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.os_error.strerror or type(exc.os_error).__name__
        return f"{name}: cannot connect to {exc.host}:{exc.port}: {reason}"
    if isinstance(exc, TimeoutError):
        return f"{name}: no answer in time"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{name}: {exc.strerror}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return f"{name}: the receiver closed the connection"
    return name
