"""The command line of ``python -m bench``: which regimes, their parameters, where results go."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import backlog_regime, contenders, default_regime
from bench.procs import REPO
from bench.regimes import BacklogRegime, DefaultRegime

RESULTS = REPO / "bench" / "results"
REGIMES = ("default", "backlog", "all")
ALL_KEYS = tuple(dict.fromkeys((*default_regime.CONTENDER_KEYS, *backlog_regime.CONTENDER_KEYS)))
MAX_DEFAULT_JOBS = 450


@dataclass(frozen=True)
class Options:
    """A bench run's parameters."""

    default: default_regime.DefaultRun | None
    backlog: backlog_regime.BacklogRun | None
    workdir: Path | None
    profile: bool = False  # run the orchestrator under cProfile (daemon.prof in its folder)


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Compare speechkit-orchestrator with the polling of other tools, each "
        "alone against a fresh emulator, from the emulator's counters. Two regimes: "
        "'default', one batch inside one quota window at the service's quotas; and "
        "'backlog', a backlog several submission windows deep under scaled quotas, once "
        "at the service's 5:1 ratio of status checks to submissions and once at a tight "
        "1.5:1.",
        epilog="Service time = emulator wall time x speed; a quota window is one service hour "
        "(3600/speed wall seconds) and every contender's intervals are divided by the speed. "
        "Results go to bench/results/ (latest.json, backlog.json, backlog.png). A full run "
        "takes about 11 minutes on two cores.",
    )
    p.add_argument(
        "--regime", choices=REGIMES, default="all", help="which part to run (default all)"
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: default regime 12 files of 20-90 s; backlog 25 jobs 2.5 windows "
        "deep at 10 submissions per 3-second window (options given explicitly still win)",
    )
    p.add_argument("--seed", type=int, default=1, help="seed of durations, audio and emulator")
    p.add_argument(
        "--only",
        default=None,
        help=f"comma-separated contenders to run (default all: {','.join(ALL_KEYS)}); each "
        "regime runs those of them it has; the orchestrator always runs, as the reference",
    )
    p.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep audio, configs and logs here (default: a temporary directory, removed)",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="run the orchestrator's daemon under cProfile and print where its CPU went; "
        "the profile is kept as daemon.prof beside its log (use with --workdir)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        help="wall seconds a contender may take before it is stopped (default 900)",
    )
    _add_default_options(p.add_argument_group("default regime"))
    _add_backlog_options(p.add_argument_group("backlog regime"))
    return p


def _add_default_options(d: argparse._ArgumentGroup) -> None:
    """The default regime's options: its files, the speed, where its results go."""
    d.add_argument("--jobs", type=int, help="number of WAV files (default 100)")
    d.add_argument(
        "--speed",
        type=float,
        help="emulator clock speed-up (default 10: one service hour takes 6 minutes; jobs x "
        "speed should stay near 1000 or below, the requests per second a 1 s poller needs)",
    )
    d.add_argument("--min-duration", type=float, help="shortest file, seconds (default 20)")
    d.add_argument("--max-duration", type=float, help="longest file, seconds (default 240)")
    d.add_argument(
        "--overhead",
        type=float,
        help="service seconds each operation takes on top of its audio's (the emulator's "
        "--processing-overhead-s; default 0); try with --min-duration 2",
    )
    d.add_argument(
        "--json",
        type=Path,
        default=RESULTS / "latest.json",
        help="where to write its raw results (default bench/results/latest.json)",
    )


def _add_backlog_options(b: argparse._ArgumentGroup) -> None:
    """The backlog regime's options: its quota, ratios, depth, files and outputs."""
    b.add_argument(
        "--backlog-speed",
        type=float,
        help="emulator clock speed-up (default 100: a quota window, one service hour, is 36 s "
        "wall; the daemon then gets submit_quota x speed / 3600 jobs per wall second)",
    )
    b.add_argument(
        "--backlog-submit-quota",
        type=int,
        help="submissions per window (default 50); status checks are this times each ratio",
    )
    b.add_argument(
        "--backlog-ratios",
        help="comma-separated ratios of status checks to submissions (default 5,1.5)",
    )
    b.add_argument(
        "--backlog-depth",
        type=float,
        help="backlog depth in submission windows; jobs = depth x quota (default 3.5)",
    )
    b.add_argument("--backlog-min-duration", type=float, help="shortest file, s (default 300)")
    b.add_argument("--backlog-max-duration", type=float, help="longest file, s (default 3600)")
    b.add_argument(
        "--backlog-noise", type=float, help="sigma of the log-normal processing noise (0.25)"
    )
    b.add_argument(
        "--backlog-overhead",
        type=float,
        help="service seconds each operation takes on top of its audio's (default 0)",
    )
    b.add_argument(
        "--backlog-max-concurrent",
        type=int,
        help="operations the emulator processes at once; the others queue (default 20)",
    )
    b.add_argument(
        "--serial",
        action="store_true",
        help="run every backlog baseline alone too (default: the orchestrator alone, then the "
        "baselines side by side; serial takes about twice as long)",
    )
    b.add_argument(
        "--backlog-json",
        type=Path,
        default=RESULTS / "backlog.json",
        help="where to write its raw results (default bench/results/backlog.json)",
    )
    b.add_argument(
        "--chart",
        type=Path,
        action="append",
        default=[],
        help="also write the backlog chart (PNG) here, e.g. under docs/; repeatable (it is "
        "always written to bench/results/backlog.png)",
    )


def _given(args: argparse.Namespace, names: dict[str, str]) -> dict[str, Any]:
    """The regime fields whose options were given: {field: value}."""
    return {
        field: getattr(args, opt) for opt, field in names.items() if getattr(args, opt) is not None
    }


def _ratios(text: str) -> tuple[float, ...]:
    values = tuple(float(part) for part in text.split(",") if part.strip())
    if not values:
        raise ValueError("no ratio given")
    return values


def _keys(p: argparse.ArgumentParser, only: str | None, known: tuple[str, ...]) -> tuple[str, ...]:
    """The contenders of one regime: the orchestrator, then those of ``only`` it has."""
    wanted = known if only is None else tuple(k.strip() for k in only.split(",") if k.strip())
    unknown = [k for k in wanted if k not in ALL_KEYS]
    if unknown:
        p.error(f"--only: unknown contender {unknown[0]!r} (known: {', '.join(ALL_KEYS)})")
    others = tuple(k for k in wanted if k in known and k != contenders.ORCHESTRATOR_KEY)
    return (contenders.ORCHESTRATOR_KEY, *others)


def _default(p: argparse.ArgumentParser, args: argparse.Namespace) -> default_regime.DefaultRun:
    base = DefaultRegime.quick() if args.quick else DefaultRegime()
    given = _given(
        args,
        {
            "jobs": "jobs",
            "speed": "speed",
            "min_duration": "min_s",
            "max_duration": "max_s",
            "overhead": "overhead_s",
        },
    )
    regime = dataclasses.replace(base, **given)
    if not 1 <= regime.jobs <= MAX_DEFAULT_JOBS:
        # Above ~450 the submissions alone would exceed the 500-per-window quota (with the
        # orchestrator's margin): that is the backlog regime's business, not this one's.
        p.error(f"--jobs must be between 1 and {MAX_DEFAULT_JOBS} (more: --regime backlog)")
    if regime.speed <= 0:
        p.error("--speed must be positive")
    if not 0 < regime.min_s <= regime.max_s:
        p.error("durations must satisfy 0 < --min-duration <= --max-duration")
    if regime.max_s > 4 * 3600:
        p.error("--max-duration must be at most 14400 s (the service's limit)")
    if not 0 <= regime.overhead_s < float("inf"):
        p.error("--overhead must be a number of seconds, not negative")
    keys = _keys(p, args.only, default_regime.CONTENDER_KEYS)
    return default_regime.DefaultRun(regime, args.seed, keys, args.json, args.timeout)


def _backlog(p: argparse.ArgumentParser, args: argparse.Namespace) -> backlog_regime.BacklogRun:
    base = BacklogRegime.quick() if args.quick else BacklogRegime()
    given = _given(
        args,
        {
            "backlog_speed": "speed",
            "backlog_submit_quota": "submit_quota",
            "backlog_depth": "depth",
            "backlog_min_duration": "min_s",
            "backlog_max_duration": "max_s",
            "backlog_noise": "processing_noise",
            "backlog_max_concurrent": "max_concurrent",
            "backlog_overhead": "overhead_s",
        },
    )
    try:
        if args.backlog_ratios is not None:
            given["ratios"] = _ratios(args.backlog_ratios)
        regime = dataclasses.replace(base, **given)
    except ValueError as exc:
        p.error(f"backlog regime: {exc}")
    if regime.max_s > 4 * 3600:
        p.error("--backlog-max-duration must be at most 14400 s (the service's limit)")
    keys = _keys(p, args.only, backlog_regime.CONTENDER_KEYS)
    charts = (RESULTS / "backlog.png", *args.chart)
    return backlog_regime.BacklogRun(
        regime, args.seed, keys, args.backlog_json, charts, args.timeout, serial=args.serial
    )


def options(argv: list[str]) -> Options:
    """Parse and check ``argv``; exits with a one-line message on bad input."""
    p = parser()
    args = p.parse_args(argv)
    if args.timeout <= 0:
        p.error("--timeout must be positive")
    run_default = args.regime in ("default", "all")
    run_backlog = args.regime in ("backlog", "all")
    return Options(
        default=_default(p, args) if run_default else None,
        backlog=_backlog(p, args) if run_backlog else None,
        workdir=args.workdir,
        profile=args.profile,
    )
