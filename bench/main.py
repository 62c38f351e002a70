"""``python -m bench``: the orchestrator and other tools' polling, side by side, in two regimes.

Every contender gets the same files, a fresh S3 server and a fresh emulator (same speed,
same seed); the figures come from the emulator's counters, never from the contenders.
The default regime (:mod:`bench.default_regime`) runs first, then the backlog regime
(:mod:`bench.backlog_regime`); ``--regime`` picks one, ``--quick`` makes a smoke run.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from bench import procs
from bench.backlog_regime import run_backlog
from bench.default_regime import run_default
from bench.options import Options, options
from bench.procs import REPO
from bench.profiling import PROFILE_ENV


def _say(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


async def run(opts: Options) -> int:
    """Run the chosen regimes, print each report, write the results; the exit status."""
    # SIGTERM stops the bench the way Ctrl-C does: every child stopped, the workdir removed.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    env = procs.child_env(REPO)
    if opts.profile:
        env[PROFILE_ENV] = "1"
    work = opts.workdir or Path(tempfile.mkdtemp(prefix="speechkit-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    _say(f"working in {work}")
    began = time.monotonic()
    troubled = False
    try:
        if opts.default is not None:
            text, bad = await run_default(opts.default, work, env, _say)
            print(text, flush=True)
            _say(f"default results written to {opts.default.json_path}")
            troubled |= bad
        if opts.backlog is not None:
            text, bad = await run_backlog(opts.backlog, work, env, _say)
            if opts.default is not None:
                print("", flush=True)
            print(text, flush=True)
            _say(f"backlog results written to {opts.backlog.json_path}")
            troubled |= bad
        _say(f"done in {(time.monotonic() - began) / 60:.1f} min")
        return 1 if troubled else 0
    finally:
        if opts.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bench``."""
    opts = options(sys.argv[1:] if argv is None else argv)
    try:
        return asyncio.run(run(opts))
    except (KeyboardInterrupt, asyncio.CancelledError):
        # asyncio.run has cancelled the run: every child was stopped on the way out.
        _say("interrupted")
        return 130
