"""``python -m bench.scale``: the daemon sitting on a big backlog, as our users run it.

A manifest of ``--jobs`` ``s3://`` entries (100,000 by default: objects already in the
bucket, so the figures are the daemon's and not the uploads') goes into the inbox of a
daemon driving the emulator at the service's own pace and quotas. The submission quota
lets 500 through; the rest wait. Measured, from outside the daemon:

- intake: wall seconds from the daemon's start to ``manifest.accepted`` (read from its log),
  and the daemon's peak RSS (VmHWM) by then;
- waiting: the share of one core the daemon uses over ``--measure`` seconds once intake
  is over and the first window's 500 jobs have ended: the rest of the backlog waits on
  the submission quota, as it would for most of a 200-hour batch;
- ``status``: wall seconds of ``speechkit-orchestrator status`` against that store (the
  median of three runs; a separate process, as an operator runs it);
- the store's size on disk per job (the SQLite file with its WAL).

``--checkout DIR`` runs the daemon and ``status`` from another checkout of the project (the
emulator and S3 server stay this one's), to compare before and after a change side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from bench import procs
from bench.contenders import Quotas, daemon_config
from bench.cpu import live_cpu
from bench.options import RESULTS
from bench.procs import REPO
from bench.services import Credentials, Services, _s3_client, services

# Objects that exist: more than the first window submits (the rest are never reached).
LIVE_OBJECTS = 800
SAMPLE = REPO / "examples" / "audio" / "greeting-mono.ogg"
STATUS_RUNS = 3
QUIET_S = 20.0
# Config keys of this checkout's bench that older checkouts refuse: left out for them.
NEWER_KEYS = (("polling", "timestamp_resolution_s"),)


@dataclass(frozen=True)
class ScaleFigures:
    """What one run measured."""

    checkout: str
    jobs: int
    intake_s: float | None
    intake_peak_rss_mib: float | None
    waiting_cpu_share: float | None  # of one core, over the measured window
    measured_s: float
    status_s: float | None
    store_bytes_per_job: float | None


def _manifest(jobs: int, bucket: str) -> str:
    """The manifest's YAML, written out line by line (it is large)."""
    lines = ["name: scale", "defaults:", "  api: v2", "  encoding: OGG_OPUS", "jobs:"]
    lines.extend(f"  - audio: s3://{bucket}/scale/{i:06d}.ogg" for i in range(jobs))
    return "\n".join(lines) + "\n"


async def _put_objects(svc: Services, creds: Credentials) -> None:
    body = SAMPLE.read_bytes()
    gate = asyncio.Semaphore(8)
    async with _s3_client(svc.s3_endpoint, creds) as client:

        async def one(i: int) -> None:
            async with gate:
                # A distinct tail per object: no two jobs share a recognition.
                data = body + i.to_bytes(4, "big")
                await client.put_object(Bucket=svc.bucket, Key=f"scale/{i:06d}.ogg", Body=data)

        await asyncio.gather(*(one(i) for i in range(LIVE_OBJECTS)))


def _events(log: Path, name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if not log.exists():
        return found
    for line in log.read_text("utf-8", errors="replace").splitlines():
        if f'"{name}"' not in line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == name:
            found.append(event)
    return found


async def _wait_for(
    log: Path, names: tuple[str, ...], process: asyncio.subprocess.Process, limit_s: float
) -> str | None:
    """The first of ``names`` the daemon logs within ``limit_s`` (None: none did)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if process.returncode is not None:
            return None
        for name in names:
            if await asyncio.to_thread(_events, log, name):
                return name
        await asyncio.sleep(0.2)
    return None


def _count(log: Path, names: tuple[str, ...]) -> int:
    """How many lines of the log are one of the ``names`` events."""
    marks = tuple(f'"event": "{name}"' for name in names)
    with log.open("r", encoding="utf-8", errors="replace") as lines:
        return sum(1 for line in lines if any(mark in line for mark in marks))


async def _first_window_ended(log: Path, jobs: int, limit_s: float) -> bool:
    """Wait until the jobs of the first submission window have ended (written or failed),
    or no job has ended for ``QUIET_S`` (a daemon keeping a margin of the quota submits
    fewer): from then on the daemon only waits on the quota."""
    deadline = time.monotonic() + limit_s
    ended, last_change = 0, time.monotonic()
    while time.monotonic() < deadline:
        now_ended = await asyncio.to_thread(_count, log, ("job.written", "job.failed"))
        if now_ended >= jobs:
            return True
        if now_ended != ended:
            ended, last_change = now_ended, time.monotonic()
        elif ended and time.monotonic() - last_change > QUIET_S:
            return True
        await asyncio.sleep(2.0)
    return False


def _store_bytes(state: Path) -> int:
    return sum(p.stat().st_size for p in state.parent.glob(state.name + "*") if p.is_file())


async def _status_s(args: list[str], env: dict[str, str]) -> float | None:
    times = []
    for _ in range(STATUS_RUNS):
        began = time.monotonic()
        child = await procs.spawn(
            args, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        if await child.wait() != 0:
            return None
        times.append(time.monotonic() - began)
    return statistics.median(times)


def _write_inputs(
    config: dict[str, Any], checkout: Path, work: Path, jobs: int, bucket: str
) -> Path:
    """Write the daemon's config (without the keys an older checkout refuses) and put the
    ``jobs``-deep manifest in its inbox; the config's path."""
    if checkout != REPO:
        # Keys an older checkout does not know yet (it refuses unknown keys).
        for section, key in NEWER_KEYS:
            config[section].pop(key, None)
    config_path = work / "config.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), "utf-8")
    inbox = work / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / ".scale.yaml").write_text(_manifest(jobs, bucket), "utf-8")
    (inbox / ".scale.yaml").rename(inbox / "scale.yaml")
    return config_path


async def _intake(
    daemon: asyncio.subprocess.Process, log: Path, began: float, say: Any
) -> tuple[float | None, float | None]:
    """Seconds until the daemon accepted the manifest, and its peak RSS (MiB) then; None
    for each when the log never said so."""
    seen = await _wait_for(log, ("manifest.accepted", "manifest.rejected"), daemon, 600)
    if seen == "manifest.rejected":
        raise RuntimeError(f"the daemon refused the manifest: see {log}")
    if seen is None:
        return None, None
    intake_s = time.monotonic() - began
    rss_kib = procs.peak_rss_kib(daemon.pid)
    say(f"intake took {intake_s:.1f} s")
    return intake_s, None if rss_kib is None else rss_kib / 1024


async def _waiting_share(
    daemon: asyncio.subprocess.Process, log: Path, jobs: int, measure_s: float, say: Any
) -> tuple[float | None, float]:
    """The share of a CPU the daemon takes while it only waits on the quota, and the
    seconds it was measured over."""
    # The first window's submissions go out at once and end; then the daemon
    # only waits on the quota with the rest of the backlog.
    first = min(jobs, Quotas().submissions)
    if not await _first_window_ended(log, first, 600.0):
        say("the first window's jobs did not all end within 600 s; measuring anyway")
    await asyncio.sleep(5.0)
    before = live_cpu(daemon.pid)
    start = time.monotonic()
    await asyncio.sleep(measure_s)
    after = live_cpu(daemon.pid)
    measured = time.monotonic() - start
    if before is None or after is None:
        return None, measured
    return (after.total_s - before.total_s) / measured, measured


async def run_scale(
    jobs: int, measure_s: float, checkout: Path, work: Path, say: Any
) -> ScaleFigures:
    """One daemon on a ``jobs``-deep backlog; its figures."""
    creds = Credentials.fresh()
    env = procs.child_env(REPO)
    daemon_env = {
        **procs.child_env(checkout),
        "BENCH_SPEECHKIT_API_KEY": creds.api_key,
        "BENCH_S3_ACCESS_KEY_ID": creds.s3_access_key,
        "BENCH_S3_SECRET_ACCESS_KEY": creds.s3_secret_key,
    }
    async with services(creds=creds, speed=1.0, seed=1, env=env, logs=work / "logs") as svc:
        await _put_objects(svc, creds)
        config = daemon_config(svc, 1.0, work)
        config_path = _write_inputs(config, checkout, work, jobs, svc.bucket)
        log = work / "daemon.log"
        python = [sys.executable, "-m", "orchestrator"]
        say(f"daemon from {checkout} on {jobs:,} jobs")
        began = time.monotonic()
        with log.open("wb") as out:
            daemon = await procs.spawn(
                [*python, "run", "--config", str(config_path)],
                env=daemon_env,
                cwd=work,
                stdout=out,
                stderr=out,
            )
        try:
            intake_s, rss = await _intake(daemon, log, began, say)
            share, measured = await _waiting_share(daemon, log, jobs, measure_s, say)
            status_s = await _status_s(
                [*python, "status", "--config", str(config_path)], daemon_env
            )
        finally:
            await procs.stop(daemon, signal.SIGTERM)
        state = Path(config["paths"]["state_file"])
        size = _store_bytes(state)
    return ScaleFigures(
        checkout=str(checkout),
        jobs=jobs,
        intake_s=intake_s,
        intake_peak_rss_mib=rss,
        waiting_cpu_share=share,
        measured_s=measured,
        status_s=status_s,
        store_bytes_per_job=size / jobs if size else None,
    )


def _fmt(value: float | None, spec: str, unit: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{unit}"


def report(runs: list[ScaleFigures]) -> str:
    """The table of every run."""
    head = f"{'daemon from':<28} {'jobs':>8} {'intake':>8} {'RSS':>8} {'waiting CPU':>11} "
    head += f"{'status':>7} {'store/job':>9}"
    lines = [head, "-" * len(head)]
    for r in runs:
        share = None if r.waiting_cpu_share is None else 100 * r.waiting_cpu_share
        lines.append(
            f"{Path(r.checkout).name or r.checkout:<28} {r.jobs:>8,} "
            f"{_fmt(r.intake_s, '.1f', ' s'):>8} {_fmt(r.intake_peak_rss_mib, '.0f', ' MiB'):>8} "
            f"{_fmt(share, '.1f', '%'):>11} "
            f"{_fmt(r.status_s, '.2f', ' s'):>7} {_fmt(r.store_bytes_per_job, '.0f', ' B'):>9}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bench.scale``."""
    p = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n")[0])
    p.add_argument("--jobs", type=int, default=100_000, help="jobs in the manifest (100000)")
    p.add_argument("--measure", type=float, default=120.0, help="seconds of waiting measured (120)")
    p.add_argument(
        "--checkout",
        type=Path,
        action="append",
        default=[],
        help="also run the daemon from this checkout, before this one (repeatable)",
    )
    p.add_argument("--json", type=Path, default=RESULTS / "scale.json", help="raw results")
    args = p.parse_args(argv)
    if args.jobs < 1 or args.measure <= 0:
        p.error("--jobs must be at least 1 and --measure positive")

    def say(text: str) -> None:
        print(f"bench.scale: {text}", file=sys.stderr, flush=True)

    async def all_runs() -> list[ScaleFigures]:
        runs = []
        for checkout in [*args.checkout, REPO]:
            work = Path(tempfile.mkdtemp(prefix="speechkit-scale-"))
            try:
                runs.append(await run_scale(args.jobs, args.measure, checkout, work, say))
            finally:
                shutil.rmtree(work, ignore_errors=True)
        return runs

    runs = asyncio.run(all_runs())
    print(report(runs))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps([asdict(r) for r in runs], indent=2) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
