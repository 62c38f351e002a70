"""``python -m bench.intake``: how long, and how much memory, a directory manifest of many
files costs to take in, through ``submit`` and through the daemon's intake.

It makes a directory of ``--files`` tiny WAV files (hard links to a few real ones: the
disk holds a handful of files, every name is probed like any other), a config and a
manifest naming the directory, then runs two child processes and reports each one's wall
time, CPU time and peak resident set (its ``ru_maxrss``, read from ``wait4`` when it is
reaped: the child's own figures, where ``RUSAGE_CHILDREN`` would give the largest child's):

- ``submit``: the CLI validating the manifest (every file probed) and placing it in the
  inbox;
- ``intake``: the daemon's ``Intake.take`` reading the manifest from the inbox and
  inserting its jobs in the SQLite store, as the running daemon does (nothing uploaded).

A third child only imports what the intake imports: the floor under both figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path

from bench import procs
from bench.procs import REPO

# Links per real file: far below any filesystem's limit on links to one inode.
LINKS_PER_FILE = 1000
MANIFEST_NAME = "bench-intake"


@dataclass(frozen=True)
class Measure:
    """One child's figures."""

    what: str
    wall_s: float
    cpu_s: float  # user and system time of the child
    peak_rss_mib: float
    returncode: int
    output: str


def make_audio(folder: Path, count: int) -> None:
    """``count`` tiny WAV files (10 ms of 8 kHz mono silence) in one directory."""
    folder.mkdir(parents=True, exist_ok=True)
    original: Path | None = None
    for index in range(count):
        target = folder / f"call-{index:06d}.wav"
        if index % LINKS_PER_FILE == 0:
            original = target
            with wave.open(str(target), "wb") as out:
                out.setnchannels(1)
                out.setsampwidth(2)
                out.setframerate(8000)
                out.writeframes(bytes(160))
            continue
        assert original is not None
        os.link(original, target)


def write_setup(work: Path, files: int) -> tuple[Path, Path]:
    """The config and the manifest (made once per work directory); their paths."""
    audio = work / "audio"
    if not audio.is_dir():
        make_audio(audio, files)
    config = work / "config.yaml"
    config.write_text(
        "storage: {bucket: bench-intake}\n"
        "paths: {state_file: state/state.sqlite3, inbox: inbox, output: results}\n",
        "utf-8",
    )
    manifest = work / f"{MANIFEST_NAME}.yaml"
    # base_dir as ``submit`` records it: the intake reads the manifest from the inbox.
    manifest.write_text(
        f"name: {MANIFEST_NAME}\nbase_dir: {json.dumps(str(work))}\njobs:\n  - audio: audio\n",
        "utf-8",
    )
    return config, manifest


def measure(what: str, args: list[str], cwd: Path) -> Measure:
    """Run ``args`` and read its wall time and peak RSS (this child's alone: ``wait4``)."""
    began = time.monotonic()
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(args, cwd=cwd, env=procs.child_env(REPO), stdout=out, stderr=out)
        _pid, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - began
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    # Linux reports ru_maxrss in KiB.
    cpu = usage.ru_utime + usage.ru_stime
    return Measure(what, wall, cpu, usage.ru_maxrss / 1024, process.returncode, text)


def _clean(work: Path) -> None:
    for name in ("state", "inbox", "failed", "processed", "results"):
        shutil.rmtree(work / name, ignore_errors=True)


async def _take(config_path: Path, manifest: Path) -> None:
    """The daemon's intake of one manifest into a fresh store (the child's work)."""
    from orchestrator.config import load_config
    from orchestrator.core.jobs import State
    from orchestrator.intake.inbox import Intake
    from orchestrator.intake.roots import InputRoots
    from orchestrator.store.factory import open_store

    config = load_config(config_path, resolve_secrets=False)
    paths = config.paths
    paths.inbox.mkdir(parents=True, exist_ok=True)
    placed = paths.inbox / manifest.name
    shutil.copy(manifest, placed)
    store = await open_store(config)
    try:
        intake = Intake(
            store,
            paths.inbox,
            paths.failed,
            paths.processed,
            settle_s=0,
            roots=InputRoots.of(config),
        )
        taken = await intake.take(placed)
        print(f"taken={taken} jobs={await store.count(tuple(State))}")
    finally:
        await store.close()


def _imports() -> None:
    """What the intake child imports, and nothing more (the floor of its RSS)."""
    import orchestrator.config
    import orchestrator.intake.inbox
    import orchestrator.store.factory  # noqa: F401

    print("imported")


def run_once(config: Path, manifest: Path, work: Path) -> list[Measure]:
    """Measure the three children once."""
    child = [sys.executable, "-m", "bench.intake", "--child"]
    submit = [sys.executable, "-m", "orchestrator", "submit", "--config", str(config)]
    found = []
    for what, args in (
        ("imports only", [*child, "imports"]),
        ("submit", [*submit, str(manifest)]),
        ("intake", [*child, "intake", str(config), str(manifest)]),
    ):
        found.append(measure(what, args, work))
        _clean(work)
    return found


def median_of(runs: list[Measure]) -> Measure:
    """One child's median figures over several runs (each figure's own median: on a
    shared machine one run's wall time says as much about the neighbours as about us)."""
    shown = next((m for m in runs if m.returncode != 0), runs[-1])
    return Measure(
        shown.what,
        statistics.median(m.wall_s for m in runs),
        statistics.median(m.cpu_s for m in runs),
        statistics.median(m.peak_rss_mib for m in runs),
        shown.returncode,
        shown.output,
    )


def run(files: int, work: Path, runs: int = 1) -> list[Measure]:
    """Measure the three children against a directory of ``files`` files in ``work``,
    ``runs`` times: the median of each figure."""
    config, manifest = write_setup(work, files)
    every = [run_once(config, manifest, work) for _ in range(runs)]
    return [median_of(list(same)) for same in zip(*every, strict=True)]


def report(files: int, found: list[Measure], runs: int = 1) -> str:
    """The table of figures."""
    title = f"directory manifest of {files:,} files"
    lines = [
        title + (f" (median of {runs} runs)" if runs > 1 else ""),
        f"{'path':<14}{'wall':>9}{'CPU':>9}{'peak RSS':>12}  exit",
    ]
    for m in found:
        lines.append(
            f"{m.what:<14}{m.wall_s:>7.2f} s{m.cpu_s:>7.2f} s{m.peak_rss_mib:>8.0f} MiB"
            f"  {m.returncode}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run the measurements, print the table; 1 when a child failed."""
    parser = argparse.ArgumentParser(prog="python -m bench.intake", description=__doc__)
    parser.add_argument("--files", type=int, default=100_000, help="files in the directory")
    parser.add_argument("--workdir", type=Path, help="keep the files here (default: a temp dir)")
    parser.add_argument("--runs", type=int, default=1, help="measure this many times (median)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        if kind == "intake":
            asyncio.run(_take(Path(rest[0]), Path(rest[1])))
        else:
            _imports()
        return 0
    work = args.workdir or Path(tempfile.mkdtemp(prefix="speechkit-bench-intake-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        found = run(args.files, work, max(1, args.runs))
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(report(args.files, found, max(1, args.runs)))
    bad = [m for m in found if m.returncode != 0]
    for m in bad:
        print(f"{m.what} failed ({m.returncode}):\n{m.output[-2000:]}", file=sys.stderr)
    for m in found:
        if m.what == "intake":
            print(m.output.strip().splitlines()[-1] if m.output.strip() else "", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
