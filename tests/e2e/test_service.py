"""The daemon as a systemd service, on the real process: notify, signals, reload, status.

Each test runs the real `speechkit-orchestrator run` as a subprocess against moto's S3
server and the emulator. Between the daemon and the emulator sits a small proxy that can
hold requests at a gate: that is how a test keeps requests "in flight" for exactly as long
as it needs, without sleeping or relying on timing.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import tempfile
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from orchestrator.emulator import RunningEmulator
from tests.conftest import S3Server
from tests.support.daemon import DEMO_FILES, DaemonEnv
from tests.support.emulator import emulator

pytestmark = pytest.mark.e2e

# Guards against a hung daemon, not timing assertions: generous on a loaded machine.
LIMIT_S = 60.0
# What the daemon exits with on a second SIGTERM/SIGINT
# (orchestrator.service.control.EXIT_NOW_STATUS).
EXIT_NOW_STATUS = 1
PREFIX = "speechkit_orchestrator_"

_HOP_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "content-encoding",
        "host",
        "te",
        "trailer",
        "upgrade",
    }
)


class GatedProxy:
    """A reverse proxy to the emulator whose gate, when closed, holds every request."""

    def __init__(self, upstream: str) -> None:
        """Forward to ``upstream`` (the emulator's base URL); the gate starts open."""
        self.upstream = upstream.rstrip("/")
        self.url = ""
        self.held = 0  # requests waiting at the gate right now
        self.passed: Counter[str] = Counter()  # requests forwarded, by path
        self.dropped = 0  # requests whose client hung up while held
        self._waiting: dict[int, web.Request] = {}  # Request is unhashable
        self._open = asyncio.Event()
        self._open.set()
        self._changed = asyncio.Condition()
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen on a free loopback port."""
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    def hold(self) -> None:
        """Close the gate: requests from now on wait."""
        self._open.clear()

    def release(self) -> None:
        """Open the gate: the requests held go on to the emulator."""
        self._open.set()

    async def wait_held(self, count: int) -> None:
        """Wait until ``count`` requests are waiting at the gate."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: self.held >= count), LIMIT_S)

    async def wait_clients_gone(self) -> None:
        """Wait until every held request's client has hung up (the daemon exited)."""
        async with asyncio.timeout(LIMIT_S):
            # aiohttp tells a waiting handler nothing when its client hangs up; the request
            # only loses its transport. So this polls (it is over within a loop turn or two).
            while any(r.transport is not None for r in self._waiting.values()):  # noqa: ASYNC110
                await asyncio.sleep(0.01)

    async def close(self) -> None:
        """Let held requests go, stop listening, close the client session."""
        self.release()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        if not self._open.is_set():
            async with self._changed:
                self.held += 1
                self._waiting[id(request)] = request
                self._changed.notify_all()
            await self._open.wait()
            async with self._changed:
                self.held -= 1
                del self._waiting[id(request)]
        assert self._session is not None
        try:
            if request.transport is None:
                raise ConnectionResetError
            body = await request.read()
        except ConnectionResetError:
            # The daemon hung up while held (it exited): the request is lost in transit.
            self.dropped += 1
            return web.Response(status=502)
        self.passed[request.path] += 1
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        async with self._session.request(
            request.method, self.upstream + request.rel_url.path_qs, headers=headers, data=body
        ) as answer:
            body = await answer.read()
            back = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_HEADERS}
            return web.Response(status=answer.status, body=body, headers=back)


@dataclass
class Stack:
    """The emulator, the gated proxy in front of it, and a daemon environment using the proxy."""

    emu: RunningEmulator
    proxy: GatedProxy
    env: DaemonEnv


@asynccontextmanager
async def service_stack(
    tmp_path: Path, s3: S3Server, bucket: str, **overrides: Any
) -> AsyncIterator[Stack]:
    """A fast emulator behind a gated proxy, and a config pointing the daemon at the proxy."""
    async with emulator(s3, speed=1000) as emu:
        proxy = GatedProxy(emu.url)
        await proxy.start()
        try:
            env = DaemonEnv.create(tmp_path / "daemon", s3, bucket, proxy.url, **overrides)
            yield Stack(emu, proxy, env)
        finally:
            await proxy.close()


@asynccontextmanager
async def running(
    env: DaemonEnv, environ: dict[str, str] | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`run` in the background; killed on the way out if the test left it running."""
    process = await env.start(env=environ)
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def exit_status(process: asyncio.subprocess.Process) -> int:
    """Wait for the daemon to exit."""
    return await asyncio.wait_for(process.wait(), LIMIT_S)


def events_of(env: DaemonEnv, run: int, name: str | None = None) -> list[dict[str, Any]]:
    """The JSON log events of one daemon start (0 = the first), optionally only ``name``."""
    found = []
    for line in env.log_files[run].read_text("utf-8").splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            if name is None or event["event"] == name:
                found.append(event)
    return found


def put_manifest(folder: Path, name: str, audio: Path, files: tuple[str, ...]) -> None:
    """Write a manifest into ``folder`` under a hidden name, then rename it (as operators do)."""
    folder.mkdir(parents=True, exist_ok=True)
    document = {"name": name, "base_dir": str(audio), "jobs": [{"audio": f} for f in files]}
    tmp = folder / f".{name}.yaml"
    tmp.write_text(yaml.safe_dump(document), "utf-8")
    tmp.rename(folder / f"{name}.yaml")


def hold_a_batch(stack: Stack) -> tuple[DaemonEnv, GatedProxy]:
    """A manifest of JOBS files in the inbox, the proxy's gate closed on their submissions;
    the stack's daemon environment and proxy."""
    env, proxy = stack.env, stack.proxy
    audio = env.copy_audio(DEMO_FILES[:JOBS])
    put_manifest(env.inbox, "batch", audio, DEMO_FILES[:JOBS])
    proxy.hold()
    return env, proxy


def check_all_done_once(env: DaemonEnv, manifest: str, jobs: int) -> None:
    """Every job of ``manifest`` is done, and each result was written exactly once."""
    report = json.loads((env.results / manifest / "report.json").read_text("utf-8"))
    assert report["counts"] == {"done": jobs}, report["failures"]
    written = Counter(e["job_id"] for e in env.events("job.written"))
    assert sorted(written) == list(range(1, jobs + 1))
    assert set(written.values()) == {1}
    assert not env.events("job.already_written")
    assert "Traceback" not in env.output()


# -- sd_notify ------------------------------------------------------------------------------


@dataclass
class Message:
    """One sd_notify datagram, and what the test saw of the daemon when it arrived."""

    fields: dict[str, str]
    seen: Any


@dataclass
class NotifyListener:
    """Receives the daemon's datagrams on a socket bound by the test, as systemd does."""

    sock: socket.socket
    observe: Callable[[], Any] = lambda: None
    messages: list[Message] = field(default_factory=list)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def receive(self) -> None:
        """Collect datagrams until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            data = await loop.sock_recv(self.sock, 65536)
            text = data.decode()
            fields = dict(line.split("=", 1) for line in text.splitlines() if line)
            async with self._changed:
                self.messages.append(Message(fields, self.observe()))
                self._changed.notify_all()

    async def wait_for(
        self, predicate: Callable[[dict[str, str]], bool], count: int = 1
    ) -> Message:
        """The ``count``-th message whose fields satisfy ``predicate``."""

        def found() -> list[Message]:
            return [m for m in self.messages if predicate(m.fields)]

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(found()) >= count), LIMIT_S)
        return found()[count - 1]


@pytest.fixture(params=["path", "abstract"])
def notify_socket(request: pytest.FixtureRequest) -> Iterator[tuple[str, socket.socket]]:
    """A datagram socket bound like systemd's: a filesystem path, or an abstract "@name"."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK) as sock:
        if request.param == "abstract":
            name = f"speechkit-test-{uuid.uuid4().hex}"
            sock.bind("\0" + name)
            yield "@" + name, sock
            return
        # sun_path holds 107 bytes: pytest's tmp_path can be longer.
        with tempfile.TemporaryDirectory(prefix="sk-notify-") as folder:
            path = os.path.join(folder, "notify")
            sock.bind(path)
            yield path, sock


async def test_notify_ready_watchdog_status_reload_stopping(
    tmp_path: Path,
    s3_server: S3Server,
    s3_bucket: str,
    notify_socket: tuple[str, socket.socket],
) -> None:
    address, sock = notify_socket
    async with service_stack(tmp_path, s3_server, s3_bucket) as stack:
        env = stack.env
        audio = env.copy_audio(DEMO_FILES[:1])
        state_file = env.root / "state" / "orchestrator.sqlite3"

        def observe() -> tuple[list[str], bool]:
            daemon_events = [e["event"] for e in env.events() if e["event"].startswith("daemon.")]
            return daemon_events, state_file.exists()

        listener = NotifyListener(sock, observe)
        receiver = asyncio.create_task(listener.receive())
        # WATCHDOG_PID is left unset: the child's pid is not known before it starts.
        environ = {**env.env, "NOTIFY_SOCKET": address, "WATCHDOG_USEC": "400000"}
        environ.pop("WATCHDOG_PID", None)
        try:
            async with running(env, environ) as daemon:
                ready = await listener.wait_for(lambda f: f.get("READY") == "1")
                # READY=1 only once the store is open and crash recovery has run.
                events_then, state_existed = ready.seen
                assert "daemon.recovered" in events_then
                assert state_existed
                assert ready.fields["STATUS"] == "idle: no jobs"

                # The watchdog pings from the event loop, several times.
                await listener.wait_for(lambda f: f.get("WATCHDOG") == "1", count=3)

                # A manifest comes in: STATUS= shows its jobs by state, up to done.
                put_manifest(env.inbox, "one", audio, DEMO_FILES[:1])
                await listener.wait_for(lambda f: f.get("STATUS", "").startswith("jobs: "))
                await listener.wait_for(lambda f: f.get("STATUS") == "jobs: 1 done")

                # SIGHUP: RELOADING=1 with the monotonic time, then READY=1 again.
                daemon.send_signal(signal.SIGHUP)
                reloading = await listener.wait_for(lambda f: f.get("RELOADING") == "1")
                assert int(reloading.fields["MONOTONIC_USEC"]) > 0
                await listener.wait_for(lambda f: f.get("READY") == "1", count=2)

                daemon.send_signal(signal.SIGTERM)
                stopping = await listener.wait_for(lambda f: f.get("STOPPING") == "1")
                assert "draining" in stopping.fields["STATUS"]
                assert await exit_status(daemon) == 0
        finally:
            receiver.cancel()
            await asyncio.gather(receiver, return_exceptions=True)

    # Nothing but READY/RELOADING/STOPPING/STATUS/WATCHDOG/MONOTONIC_USEC was sent.
    sent = {name for m in listener.messages for name in m.fields}
    assert sent <= {"READY", "RELOADING", "MONOTONIC_USEC", "STOPPING", "STATUS", "WATCHDOG"}
    kinds = [next(iter(m.fields)) for m in listener.messages if "WATCHDOG" not in m.fields]
    assert kinds[0] == "READY"
    assert kinds[-1] == "STOPPING"
    env_events = [e["event"] for e in env.events() if e["event"].startswith("daemon.")]
    assert env_events == [
        "daemon.recovered",
        "daemon.ready",
        "daemon.reloaded",
        "daemon.stopping",
        "daemon.stopped",
    ]


# -- SIGTERM / SIGINT ------------------------------------------------------------------------

JOBS = 4


async def test_sigterm_lets_requests_in_flight_finish_then_exits_0(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with service_stack(
        tmp_path, s3_server, s3_bucket, service={"drain_timeout_s": 30.0}
    ) as stack:
        env, proxy = hold_a_batch(stack)
        async with running(env) as daemon:
            # Every job uploaded and its submission on the wire, held at the gate.
            await proxy.wait_held(JOBS)
            daemon.send_signal(signal.SIGTERM)
            (stopping,) = await env.wait_for_event("daemon.stopping", limit_s=LIMIT_S)
            assert stopping["signal"] == "SIGTERM"
            assert stopping["in_flight"] == JOBS
            # The drain waits for the answers; they come once the gate opens.
            proxy.release()
            assert await exit_status(daemon) == 0

        first = [e["event"] for e in events_of(env, 0)]
        assert first.index("daemon.stopping") < first.index("daemon.stopped")
        assert "daemon.drain_timeout" not in first
        # The submissions in flight finished and were recorded; nothing new was started.
        (stopped,) = events_of(env, 0, "daemon.stopped")
        assert stopped["jobs"] == {"running": JOBS}
        assert {e["to"] for e in events_of(env, 0, "job.state")} == {
            "uploading",
            "uploaded",
            "submitting",
            "running",
        }

        assert await env.run_until_idle(limit_s=LIMIT_S) == 0
        stats = stack.emu.stats()

    check_all_done_once(env, "batch", JOBS)
    # The drain kept every operation id: nothing was submitted twice.
    assert not env.events("job.resubmitting")
    assert stats["summary"]["operations"] == JOBS


async def test_drain_timeout_records_the_jobs_and_exits_0(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with service_stack(
        tmp_path, s3_server, s3_bucket, service={"drain_timeout_s": 0.2}
    ) as stack:
        env, proxy = hold_a_batch(stack)
        async with running(env) as daemon:
            await proxy.wait_held(JOBS)
            daemon.send_signal(signal.SIGINT)
            # The gate stays closed: the drain cannot finish, the timeout cuts it short.
            assert await exit_status(daemon) == 0

        first = [e["event"] for e in events_of(env, 0)]
        assert first.index("daemon.stopping") < first.index("daemon.drain_timeout")
        assert first.index("daemon.drain_timeout") < first.index("daemon.stopped")
        (timeout,) = events_of(env, 0, "daemon.drain_timeout")
        assert timeout["in_flight"] == JOBS
        (stopped,) = events_of(env, 0, "daemon.stopped")
        assert stopped["jobs"] == {"submitting": JOBS}

        # The cut submissions might have reached the service: the next run says so and
        # submits again (at-least-once), then finishes everything.
        await proxy.wait_clients_gone()
        proxy.release()
        assert await env.run_until_idle(limit_s=LIMIT_S) == 0
        stats = stack.emu.stats()

    check_all_done_once(env, "batch", JOBS)
    assert len(events_of(env, 1, "job.resubmitting")) == JOBS
    # Here they never did (the proxy dropped them): each audio was recognised once.
    assert proxy.dropped == JOBS
    assert stats["summary"]["operations"] == JOBS


async def test_second_signal_exits_at_once_and_the_next_run_finishes(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with service_stack(
        tmp_path, s3_server, s3_bucket, service={"drain_timeout_s": 300.0}
    ) as stack:
        env, proxy = hold_a_batch(stack)
        async with running(env) as daemon:
            await proxy.wait_held(JOBS)
            daemon.send_signal(signal.SIGTERM)
            await env.wait_for_event("daemon.stopping", limit_s=LIMIT_S)
            # The drain would wait for the gate (for 300 s); a second signal does not.
            daemon.send_signal(signal.SIGTERM)
            assert await exit_status(daemon) == EXIT_NOW_STATUS
            assert proxy.held == JOBS

        (exit_now,) = events_of(env, 0, "daemon.exit_now")
        assert exit_now["signal"] == "SIGTERM"
        assert exit_now["exit_status"] == EXIT_NOW_STATUS
        assert not events_of(env, 0, "daemon.stopped")

        await proxy.wait_clients_gone()
        proxy.release()
        assert await env.run_until_idle(limit_s=LIMIT_S) == 0
        (recovered,) = events_of(env, 1, "daemon.recovered")
        assert recovered["jobs"] == {"submitting": JOBS}
        stats = stack.emu.stats()

    check_all_done_once(env, "batch", JOBS)
    assert len(events_of(env, 1, "job.resubmitting")) == JOBS
    assert proxy.dropped == JOBS
    assert stats["summary"]["operations"] == JOBS


# -- SIGHUP ---------------------------------------------------------------------------------


async def test_sighup_applies_a_good_config_without_dropping_work(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with service_stack(tmp_path, s3_server, s3_bucket) as stack:
        env, proxy = stack.env, stack.proxy
        audio = env.copy_audio(DEMO_FILES[:3])
        async with running(env) as daemon:
            await env.wait_for_event("daemon.ready", limit_s=LIMIT_S)
            # Work in flight across the reload: two submissions held at the gate.
            proxy.hold()
            put_manifest(env.inbox, "before", audio, DEMO_FILES[:2])
            await proxy.wait_held(2)

            env.update_config(
                paths={"inbox": "inbox-new"},
                concurrency={"uploads": 2, "fetches": 2},
                quotas={"submissions": 500},
                # Two speechkit keys the pipeline takes at once: no restart for them.
                speechkit={"results_ttl_s": 86400.0, "delete_results_after_done": True},
            )
            daemon.send_signal(signal.SIGHUP)
            (reloaded,) = await env.wait_for_event("daemon.reloaded", limit_s=LIMIT_S)
            assert reloaded["config"] == str(env.config_path)
            assert reloaded["restart_needed_for"] is None
            proxy.release()

            # The new inbox is the one watched now.
            put_manifest(env.root / "inbox-new", "after", audio, DEMO_FILES[2:3])
            await env.wait_for_event("manifest.finished", manifest="after", limit_s=LIMIT_S)
            await env.wait_for_event("manifest.finished", manifest="before", limit_s=LIMIT_S)
            daemon.send_signal(signal.SIGTERM)
            assert await exit_status(daemon) == 0

    (accepted,) = env.events("manifest.accepted")[1:]
    assert accepted["manifest"] == "after"
    assert Path(accepted["path"]).parent == env.root / "inbox-new" / ".active"
    for name, jobs in (("before", 2), ("after", 1)):
        report = json.loads((env.results / name / "report.json").read_text("utf-8"))
        assert report["counts"] == {"done": jobs}
    assert (env.root / "processed" / "after.yaml").exists()
    assert "Traceback" not in env.output()


async def test_sighup_refuses_a_bad_config_and_keeps_the_old_one(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with service_stack(tmp_path, s3_server, s3_bucket) as stack:
        env = stack.env
        audio = env.copy_audio(DEMO_FILES[:1])
        async with running(env) as daemon:
            await env.wait_for_event("daemon.ready", limit_s=LIMIT_S)
            # A new inbox, a misspelt key and a wrong type: refused as a whole.
            env.update_config(
                paths={"inbox": "inbox-new"},
                quotas={"submisions": 5},
                concurrency={"uploads": "many"},
            )
            daemon.send_signal(signal.SIGHUP)
            (failed,) = await env.wait_for_event("daemon.reload_failed", limit_s=LIMIT_S)
            assert failed["level"] == "error"
            assert failed["config"] == str(env.config_path)
            problems = "\n".join(failed["problems"])
            assert "submisions" in problems
            assert "uploads" in problems
            assert all(str(env.config_path) in p for p in failed["problems"])

            # Still running, still on the old config: the old inbox is the one watched.
            put_manifest(env.inbox, "still", audio, DEMO_FILES[:1])
            await env.wait_for_event("manifest.finished", manifest="still", limit_s=LIMIT_S)
            assert daemon.returncode is None
            daemon.send_signal(signal.SIGTERM)
            assert await exit_status(daemon) == 0

    assert not env.events("daemon.reloaded")
    assert not (env.root / "inbox-new").exists()
    report = json.loads((env.results / "still" / "report.json").read_text("utf-8"))
    assert report["counts"] == {"done": 1}
    assert "Traceback" not in env.output()


# -- status endpoint ------------------------------------------------------------------------


def parse_metrics(text: str) -> dict[str, list[Sample]]:
    """Samples by family name, through prometheus_client's own parser."""
    return {family.name: list(family.samples) for family in text_string_to_metric_families(text)}


def value(families: dict[str, list[Sample]], family: str, sample: str, **labels: str) -> float:
    """The value of the one sample named ``sample`` with ``labels`` in ``family``."""
    (match,) = [
        s
        for s in families[PREFIX + family]
        if s.name == PREFIX + sample and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    return float(match.value)


async def check_unhealthy_while_the_store_is_locked(
    http: aiohttp.ClientSession, base: str, root: Path
) -> None:
    """/healthz answers 503 while another process holds the store's write lock, 200 again
    once it is gone."""
    # Another process holds the store's write lock: not healthy...
    state_file = root / "state" / "orchestrator.sqlite3"
    locker = sqlite3.connect(state_file, timeout=LIMIT_S, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        async with http.get(base + "/healthz") as answer:
            assert answer.status == 503
            assert await answer.json() == {"status": "unavailable"}
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    # ...and healthy again once the lock is gone, the daemon's connection intact.
    async with http.get(base + "/healthz") as answer:
        assert answer.status == 200


def check_the_metrics_of_three_jobs(
    families: dict[str, list[Sample]], stats: dict[str, Any], audio: Path, jobs: int
) -> None:
    """The scraped families agree with the emulator's counts of the ``jobs`` done."""
    expected_families = {
        "jobs",
        "api_requests",
        "quota_used",
        "quota_left",
        "throttled",
        "status_check_lag_seconds",
        "uploaded_bytes",
        "polls_per_job",
    }
    assert {PREFIX + name for name in expected_families} <= set(families)
    assert value(families, "jobs", "jobs", state="done") == jobs
    assert sum(s.value for s in families[PREFIX + "jobs"]) == jobs
    submits = value(
        families,
        "api_requests",
        "api_requests_total",
        endpoint="longRunningRecognize",
        status="200",
    )
    polls = value(
        families, "api_requests", "api_requests_total", endpoint="operations", status="200"
    )
    assert submits == jobs == stats["summary"]["operations"]
    assert polls == stats["summary"]["status_checks"] >= jobs
    # Quotas as of the scrape: every submission and check of this run is in the window.
    assert value(families, "quota_used", "quota_used", quota="submit") == jobs
    assert value(families, "quota_used", "quota_used", quota="status") == polls
    assert value(families, "quota_left", "quota_left", quota="submit") > 0
    assert value(families, "throttled", "throttled_total", quota="submit") == 0
    assert value(families, "throttled", "throttled_total", quota="status") == 0
    lag_count = value(families, "status_check_lag_seconds", "status_check_lag_seconds_count")
    assert lag_count == jobs
    assert (
        value(families, "status_check_lag_seconds", "status_check_lag_seconds_bucket", le="+Inf")
        == jobs
    )
    audio_bytes = sum((audio / name).stat().st_size for name in DEMO_FILES[:jobs])
    uploaded = value(families, "uploaded_bytes", "uploaded_bytes_total")
    assert 0 < uploaded <= audio_bytes


async def test_healthz_metrics_and_status_from_the_real_daemon(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    jobs = 3
    async with (
        service_stack(tmp_path, s3_server, s3_bucket) as stack,
        aiohttp.ClientSession() as http,
    ):
        env = stack.env
        audio = env.copy_audio(DEMO_FILES[:jobs])
        async with running(env) as daemon:
            (ready,) = await env.wait_for_event("daemon.ready", limit_s=LIMIT_S)
            base = ready["status_address"]
            assert base.startswith("http://127.0.0.1:")
            async with http.get(base + "/healthz") as answer:
                assert answer.status == 200
                assert await answer.json() == {"status": "ok"}

            put_manifest(env.inbox, "three", audio, DEMO_FILES[:jobs])
            await env.wait_for_event("manifest.finished", manifest="three", limit_s=LIMIT_S)

            async with http.get(base + "/metrics") as answer:
                assert answer.status == 200
                assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                families = parse_metrics(await answer.text())
            async with http.get(base + "/status") as answer:
                assert answer.status == 200
                status = await answer.json()

            await check_unhealthy_while_the_store_is_locked(http, base, env.root)
            put_manifest(env.inbox, "later", audio, DEMO_FILES[:1])
            await env.wait_for_event("manifest.finished", manifest="later", limit_s=LIMIT_S)

            daemon.send_signal(signal.SIGTERM)
            assert await exit_status(daemon) == 0
        stats = stack.emu.stats()

    check_the_metrics_of_three_jobs(families, stats, audio, jobs)

    (manifest,) = status["manifests"]
    assert manifest["name"] == "three"
    assert manifest["counts"] == {"done": jobs}
    assert status["jobs"] == {"done": jobs}
    assert "Traceback" not in env.output()


# -- the status port under a flood of idle connections --------------------------------------

# The daemon's open files are capped this low, and the test holds more idle connections to
# its status port than that: unguarded, the port would take every descriptor.
FD_LIMIT = 256
IDLE_CONNECTIONS = 400


def idle_connections(port: int, count: int) -> list[socket.socket]:
    """``count`` connections to the loopback ``port`` that never send a byte (connected
    without waiting, so that a full accept queue cannot stall the test)."""
    opened = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        opened.append(sock)
    return opened


async def test_idle_connections_to_the_status_port_stall_neither_healthz_nor_intake(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with (
        service_stack(tmp_path, s3_server, s3_bucket) as stack,
        aiohttp.ClientSession() as http,
    ):
        env = stack.env
        env.wrapper = ["prlimit", f"--nofile={FD_LIMIT}:{FD_LIMIT}", "--"]
        audio = env.copy_audio(DEMO_FILES[:2])
        async with running(env) as daemon:
            (ready,) = await env.wait_for_event("daemon.ready", limit_s=LIMIT_S)
            base = ready["status_address"]
            held = idle_connections(int(base.rsplit(":", 1)[1]), IDLE_CONNECTIONS)
            try:
                await asyncio.sleep(1.0)  # the daemon meets every one of them
                async with http.get(base + "/healthz", timeout=aiohttp.ClientTimeout(10)) as answer:
                    assert answer.status == 200
                put_manifest(env.inbox, "meanwhile", audio, DEMO_FILES[:2])
                await env.wait_for_event("manifest.finished", manifest="meanwhile", limit_s=LIMIT_S)
            finally:
                for sock in held:
                    sock.close()
            daemon.send_signal(signal.SIGTERM)
            assert await exit_status(daemon) == 0
    output = env.output()
    assert "Too many open files" not in output
    assert "Traceback" not in output
    assert len(output) < 200_000  # no flood of anything
    check_all_done_once(env, "meanwhile", 2)
