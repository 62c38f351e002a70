"""``python -m bench.multi``: one daemon against several on one PostgreSQL store, same work.

The same files go through one daemon and through ``--daemons`` daemons (each a real
``run --until-idle`` process with its own node name and inbox, the files split between
their manifests as recordings are split between machines), each time against a fresh S3
server, a fresh emulator and a fresh database. The figures come from the emulator's
counters: quota used (the most requests in any sliding window, against the limit),
makespan, status checks per job, lag, 429s. Several daemons must be no slower and spend
no more checks per job than one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench import procs, report
from bench.contenders import daemon_config
from bench.metrics import Metrics, measure
from bench.procs import REPO
from bench.services import Credentials, Services, emulator_stats, services
from bench.workload import AudioFile, Workload, generate
from tests.support.postgres import PostgresServer

DEFAULT_JSON = REPO / "bench" / "results" / "multi.json"
PASSWORD_ENV = "BENCH_PG_PASSWORD"


@dataclass(frozen=True)
class Options:
    """A run's parameters."""

    jobs: int
    speed: float
    seed: int
    min_s: float
    max_s: float
    daemons: int
    json_path: Path
    workdir: Path | None
    timeout_s: float


@dataclass
class Run:
    """What N daemons did together."""

    daemons: int
    metrics: Metrics
    makespan_s: float  # wall seconds from the first start to the last exit
    max_in_window: dict[str, tuple[int, int]]  # quota -> (most requests in a window, limit)
    stats: dict[str, Any]
    problem: str | None


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(
        prog="python -m bench.multi",
        description="Compare one daemon with several sharing a PostgreSQL store on the same "
        "workload, from the emulator's counters.",
    )
    p.add_argument("--jobs", type=int, default=100, help="audio files (default 100)")
    p.add_argument("--daemons", type=int, default=3, help="daemons of the shared run (default 3)")
    p.add_argument("--speed", type=float, default=10.0, help="emulator speed-up (default 10)")
    p.add_argument("--seed", type=int, default=1, help="seed of durations and emulator")
    p.add_argument("--min-duration", type=float, default=20.0, help="shortest file, s")
    p.add_argument("--max-duration", type=float, default=240.0, help="longest file, s")
    p.add_argument("--quick", action="store_true", help="a smoke run: 12 files of 20-90 s")
    p.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where the raw results go")
    p.add_argument("--workdir", type=Path, default=None, help="keep files and logs here")
    p.add_argument("--timeout", type=float, default=900.0, help="wall seconds per run")
    return p


def options(argv: list[str]) -> Options:
    """Parse and check ``argv``."""
    p = parser()
    args = p.parse_args(argv)
    jobs, max_s = (12, 90.0) if args.quick else (args.jobs, args.max_duration)
    if not 1 <= jobs <= 450:
        p.error("--jobs must be between 1 and 450")
    if not 2 <= args.daemons <= 8:
        p.error("--daemons must be between 2 and 8")
    if args.speed <= 0 or not 0 < args.min_duration <= max_s:
        p.error("--speed must be positive and 0 < --min-duration <= --max-duration")
    return Options(
        jobs,
        args.speed,
        args.seed,
        args.min_duration,
        max_s,
        args.daemons,
        args.json,
        args.workdir,
        args.timeout,
    )


def _split(files: tuple[AudioFile, ...], parts: int) -> list[tuple[AudioFile, ...]]:
    """Every ``parts``-th file to each part: each node gets a like share of long and short."""
    return [files[i::parts] for i in range(parts)]


def _prepare(
    svc: Services, workload: Workload, opts: Options, work: Path, url: str, count: int
) -> list[Path]:
    """A config and an inbox (with its share of the files as one manifest) per daemon."""
    configs = []
    for index, share in enumerate(_split(workload.files, count)):
        folder = work / f"node{index}"
        config = daemon_config(svc, opts.speed, folder)
        config["state"] = {"url": url, "password_env": PASSWORD_ENV}
        # Leases scaled like every other duration (a minute of service time).
        config["service"].update({"node": f"node{index}", "lease_s": max(1.0, 60 / opts.speed)})
        # The workload's audio lives beside the nodes' folders, outside this config's.
        config["paths"]["input_roots"] = [str(share[0].path.parent)]
        (folder / "inbox").mkdir(parents=True, exist_ok=True)
        path = folder / "config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), "utf-8")
        manifest = {
            "name": f"bench-{index}",
            "base_dir": str(share[0].path.parent),
            "defaults": {"language": "ru-RU", "model": "general", "api": "v2"},
            "jobs": [{"audio": f.name} for f in share],
        }
        (folder / "inbox" / "bench.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
        configs.append(path)
    return configs


async def _run(
    count: int,
    workload: Workload,
    opts: Options,
    work: Path,
    env: dict[str, str],
    postgres: PostgresServer,
) -> Run:
    creds = Credentials.fresh()
    folder = work / f"daemons-{count}"
    url = await asyncio.to_thread(postgres.create_database)
    async with services(
        creds=creds, speed=opts.speed, seed=opts.seed, env=env, logs=folder / "logs"
    ) as svc:
        configs = await asyncio.to_thread(_prepare, svc, workload, opts, folder, url, count)
        child_env = {
            **env,
            "BENCH_SPEECHKIT_API_KEY": creds.api_key,
            "BENCH_S3_ACCESS_KEY_ID": creds.s3_access_key,
            "BENCH_S3_SECRET_ACCESS_KEY": creds.s3_secret_key,
            PASSWORD_ENV: postgres.password,
        }
        began = time.monotonic()
        children = []
        for config in configs:
            log = (config.parent / "daemon.log").open("wb")
            args = [sys.executable, "-m", "orchestrator", "run", "--config", str(config)]
            children.append(
                await procs.spawn(
                    [*args, "--until-idle", "--settle-seconds", "0"],
                    env=child_env,
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                )
            )
            log.close()
        problem = None
        try:
            codes = await asyncio.wait_for(
                asyncio.gather(*(c.wait() for c in children)), opts.timeout_s
            )
            if any(codes):
                problem = f"a daemon exited with {codes}; see {folder}"
        except TimeoutError:
            problem = f"stopped after {opts.timeout_s:g} s; see {folder}"
        finally:
            for child in children:
                await procs.stop(child)
        makespan = time.monotonic() - began
        stats = await emulator_stats(svc.emulator_url)
    metrics = measure(stats, len(workload.files), opts.speed)
    windows = {
        name: (int(meter["max_in_window"]), int(meter["limit"]))
        for name, meter in stats.get("quotas", {}).items()
        if name in ("submit", "status")
    }
    if problem is None and metrics.succeeded < metrics.jobs:
        problem = f"only {metrics.succeeded} of {metrics.jobs} jobs succeeded"
    return Run(count, metrics, makespan, windows, stats, problem)


def render(runs: list[Run]) -> str:
    """The table: one line per run, then the shared run against the single daemon."""
    head = (
        "daemons",
        "checks/job",
        "submits/job",
        "lag p50",
        "lag p90",
        "429s",
        "submit max/limit",
        "status max/limit",
        "wall (service)",
        "makespan",
    )
    rows = []
    for run in runs:
        m = run.metrics
        rows.append(
            (
                str(run.daemons),
                f"{m.checks_per_job:.2f}",
                f"{m.submissions_per_job:.2f}",
                "-" if m.lag_p50_s is None else f"{m.lag_p50_s:.1f} s",
                "-" if m.lag_p90_s is None else f"{m.lag_p90_s:.1f} s",
                str(m.throttled),
                "{}/{}".format(*run.max_in_window.get("submit", (0, 0))),
                "{}/{}".format(*run.max_in_window.get("status", (0, 0))),
                "-" if m.wall_h is None else f"{m.wall_h:.3f} h",
                f"{run.makespan_s:.1f} s",
            )
        )
    lines = report.table(head, rows)
    one, many = runs[0], runs[-1]
    lines.append(
        f"{many.daemons} daemons / 1: checks/job "
        f"{report.ratio(many.metrics.checks_per_job, one.metrics.checks_per_job)}, "
        f"wall {report.ratio(many.metrics.wall_h, one.metrics.wall_h)}, "
        f"makespan {report.ratio(many.makespan_s, one.makespan_s)}"
    )
    lines += [f"problem ({run.daemons} daemons): {run.problem}" for run in runs if run.problem]
    return "\n".join(lines)


async def run(opts: Options) -> int:
    """Both runs, the table, the JSON; the exit status."""
    env = procs.child_env(REPO)
    work = opts.workdir or Path(tempfile.mkdtemp(prefix="speechkit-bench-multi-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        workload = await asyncio.to_thread(
            generate, work / "audio", opts.jobs, opts.min_s, opts.max_s, opts.seed
        )
        runs = []
        with PostgresServer.start() as postgres:
            for count in (1, opts.daemons):
                print(f"bench.multi: {count} daemon(s) ...", file=sys.stderr, flush=True)
                runs.append(await _run(count, workload, opts, work, env, postgres))
        print(
            f"{len(workload.files)} WAV files, {workload.audio_seconds / 3600:.2f} audio hours, "
            f"emulator speed x{opts.speed:g}, quotas 500 submissions + 2500 checks per "
            f"{3600 / opts.speed:g} s; wall = first submission -> last job seen done "
            "(service time); makespan = first daemon started -> last one exited (real time)"
        )
        print(render(runs), flush=True)
        opts.json_path.parent.mkdir(parents=True, exist_ok=True)
        opts.json_path.write_text(
            json.dumps(
                [
                    {
                        "daemons": r.daemons,
                        "metrics": r.metrics.as_json(),
                        "makespan_s": r.makespan_s,
                        "max_in_window": r.max_in_window,
                        "problem": r.problem,
                    }
                    for r in runs
                ],
                indent=1,
            ),
            "utf-8",
        )
        return 1 if any(r.problem for r in runs) else 0
    finally:
        if opts.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bench.multi``."""
    return asyncio.run(run(options(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    sys.exit(main())
