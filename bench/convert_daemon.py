"""The real daemon converting, and how fast its status endpoint answers meanwhile.

The daemon (``python -m orchestrator run --until-idle``, a child process) is given one
manifest of telephony µ-law WAVs, which API v2 does not take as they are, against a fresh
S3 server and emulator, with quotas so generous and an emulator so fast that converting is
what binds. While it runs, the bench asks ``GET /status`` every ``PROBE_INTERVAL_S`` and
times each answer. The figures are taken over the conversion phase: from the status
server's first answer to the end of the last conversion (the daemon's ``audio.converted``
log events). Goal (issue 18): p99 under 50 ms, i.e. no conversion blocks the event loop.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from bench import procs
from bench.contenders import Quotas, daemon_config
from bench.services import Credentials, Services, services

# The emulator's speed: recognition takes a blink, so the run is bound by conversion.
SPEED = 1000.0
PROBE_INTERVAL_S = 0.03
GOAL_P99_MS = 50.0
# Waiting for the status server's address in the daemon's log.
STARTUP_S = 60.0
LIMIT_S = 900.0


@dataclass
class DaemonResult:
    """What the daemon run measured: each answer's time, and the conversions' span."""

    files: int
    audio_s: float
    answers_ms: list[float] = field(default_factory=list)
    failed_requests: int = 0
    conversions: int = 0
    exit_code: int | None = None
    problem: str | None = None

    def summary(self) -> dict[str, float] | None:
        """p50, p99 and max answer time in ms; None without a request."""
        if not self.answers_ms:
            return None
        ordered = sorted(self.answers_ms)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return {"p50": statistics.median(ordered), "p99": p99, "max": ordered[-1]}


@dataclass
class _Probe:
    """Answers as they come: (wall time the request was sent, ms to the whole answer)."""

    answers: list[tuple[float, float]] = field(default_factory=list)
    failed: int = 0


def _manifest(files: list[Path]) -> dict[str, Any]:
    return {
        "name": "bench-convert",
        "base_dir": str(files[0].parent),
        "defaults": {"language": "ru-RU", "model": "general", "api": "v2"},
        "jobs": [{"audio": f.name} for f in files],
    }


def prepare(svc: Services, files: list[Path], work: Path) -> Path:
    """Write the daemon's config (status on a free loopback port) and its manifest; the
    config's path."""
    config = daemon_config(svc, SPEED, work, Quotas(submissions=100_000, status_checks=500_000))
    config["status"] = {"listen_port": 0}
    config["paths"]["input_roots"] = [str(files[0].parent)]
    inbox = work / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), "utf-8")
    (inbox / "bench.yaml").write_text(yaml.safe_dump(_manifest(files), sort_keys=False))
    return path


def log_events(log: Path, event: str) -> list[dict[str, Any]]:
    """The daemon's JSON log lines whose event is ``event`` (none while there is no log)."""
    try:
        text = log.read_text("utf-8", errors="replace")
    except FileNotFoundError:
        return []
    found = []
    for line in text.splitlines():
        if f'"{event}"' not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("event") == event:
            found.append(record)
    return found


def _when(record: dict[str, Any]) -> float:
    """A log record's time as seconds since the epoch."""
    return datetime.fromisoformat(str(record["timestamp"])).timestamp()


async def _status_url(log: Path, daemon: asyncio.Task[procs.Measured]) -> str | None:
    """The status server's URL once the daemon has logged it; None if the daemon ended."""
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline and not daemon.done():
        started = await asyncio.to_thread(log_events, log, "status_server.started")
        if started:
            return str(started[0]["url"])
        await asyncio.sleep(0.05)
    return None


async def _probe(url: str, probe: _Probe, daemon: asyncio.Task[procs.Measured]) -> None:
    """GET ``url`` every PROBE_INTERVAL_S until the daemon ends, timing each answer."""
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while not daemon.done():
            sent_wall, began = time.time(), time.perf_counter()
            try:
                async with session.get(url) as answer:
                    await answer.read()
                    ok = answer.status == 200
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            spent = time.perf_counter() - began
            if ok:
                probe.answers.append((sent_wall, spent * 1000))
            else:
                # The daemon stopping at the end refuses the last requests: not its answer.
                probe.failed += 1
            await asyncio.sleep(max(0.0, PROBE_INTERVAL_S - spent))


@dataclass(frozen=True)
class _Run:
    """The daemon's run: how it ended, its answers, where it listened, its log."""

    measured: procs.Measured
    probe: _Probe
    url: str | None
    log: Path


async def _run_daemon(svc: Services, creds: Credentials, files: list[Path], work: Path) -> _Run:
    config = await asyncio.to_thread(prepare, svc, files, work)
    env = {
        **procs.child_env(procs.REPO),
        "BENCH_SPEECHKIT_API_KEY": creds.api_key,
        "BENCH_S3_ACCESS_KEY_ID": creds.s3_access_key,
        "BENCH_S3_SECRET_ACCESS_KEY": creds.s3_secret_key,
    }
    args = [sys.executable, "-m", "orchestrator", "run", "--config", str(config)]
    args += ["--until-idle", "--settle-seconds", "0"]
    log = work / "daemon.log"
    daemon = asyncio.create_task(procs.run_measured(args, env=env, log=log, limit_s=LIMIT_S))
    probe = _Probe()
    url = await _status_url(log, daemon)
    if url is not None:
        await _probe(url + "/status", probe, daemon)
    return _Run(await daemon, probe, url, log)


async def measure_daemon(files: list[Path], audio_s: float, work: Path) -> DaemonResult:
    """Run the daemon on ``files`` (telephony WAVs) and time its status answers while it
    converts them."""
    creds = Credentials.fresh()
    env = procs.child_env(procs.REPO)
    result = DaemonResult(len(files), audio_s)
    async with services(creds=creds, speed=SPEED, seed=1, env=env, logs=work / "services") as svc:
        run = await _run_daemon(svc, creds, files, work)
    result.exit_code = run.measured.exit_code
    converted = await asyncio.to_thread(log_events, run.log, "audio.converted")
    result.conversions = len(converted)
    if run.url is None:
        result.problem = f"the daemon never said where its status server listens; see {run.log}"
    elif run.measured.exit_code != 0 or run.measured.timed_out:
        result.problem = f"the daemon exited with status {run.measured.exit_code}; see {run.log}"
    elif len(converted) < len(files):
        result.problem = f"only {len(converted)} of {len(files)} files converted; see {run.log}"
    if converted:
        # The answers from the first (the status server starts before the manifest is
        # read) to the end of the last conversion.
        last = max(_when(r) for r in converted)
        result.answers_ms = [ms for sent, ms in run.probe.answers if sent <= last]
    result.failed_requests = run.probe.failed
    return result


def render_daemon(result: DaemonResult) -> list[str]:
    """The lines of the bench's table about the daemon's answers while converting."""
    figures = result.summary()
    head = (
        f"the daemon converting {result.files} telephony µ-law WAVs "
        f"({result.audio_s:.0f} audio s, {result.conversions} conversions): "
    )
    if figures is None:
        line = head + "no /status answer during the conversions"
    else:
        line = (
            head + f"GET /status answered in p50 {figures['p50']:.1f} ms, "
            f"p99 {figures['p99']:.1f} ms, max {figures['max']:.1f} ms over "
            f"{len(result.answers_ms)} requests (goal: p99 under {GOAL_P99_MS:.0f} ms)"
        )
    lines = [line]
    if result.problem:
        lines.append(f"  problem: {result.problem}")
    return lines


def copies(first: Path, count: int) -> list[Path]:
    """``first`` and ``count - 1`` copies of it beside it, each with its own last bytes:
    the daemon keeps a conversion under its source's digest, so identical copies would be
    converted once."""
    made = [first]
    for index in range(1, count):
        copy = first.with_name(f"{first.stem}-{index:03d}{first.suffix}")
        shutil.copyfile(first, copy)
        with copy.open("r+b") as out:
            out.seek(-4, 2)
            out.write(index.to_bytes(4, "little"))
        made.append(copy)
    return made
