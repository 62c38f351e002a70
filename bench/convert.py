"""``python -m bench.convert``: converting the formats the service refuses to Ogg Opus, by
the daemon's media pool and by the ``ffmpeg`` command line doing the same conversion.

A corpus is generated in a temporary directory (telephony µ-law 8 kHz stereo WAV, 44.1 kHz
stereo WAV, FLAC, M4A; a minute each by default) and converted twice: by a MediaPool of one
worker per core, and by ``ffmpeg -threads 1`` (as many at once as cores) with the same
codec, rate, bit rate and channels. Throughput is audio seconds per CPU second (times real
time, per core): ours from each worker's own CPU time per call (the pool's start-up, paid
once per daemon, is shown apart), ffmpeg's from ``RUSAGE_CHILDREN`` (each command's whole
process, as a script calling it pays). Meanwhile a task sleeping 10 ms in the event loop
records how late it wakes: the loop must not be blocked by a conversion. Goals (issue 18):
at least 0.9x the ffmpeg CLI per core; telephony WAV at least 300x real time per core; the
loop's p99 lateness under 50 ms. Without ``ffmpeg`` on the PATH the baseline is skipped.

Then the real daemon converts telephony WAVs of its own (``--daemon-files``, each a little
different so none is a copy it converted already) while the bench asks its status endpoint
every 30 ms: the goal's own measure, p99 answer time under 50 ms (``bench.convert_daemon``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import av

from bench.convert_daemon import DaemonResult, copies, measure_daemon, render_daemon
from bench.convert_job import Done, convert_file
from bench.report import table
from orchestrator.media.pool import MediaPool, time_bound
from orchestrator.media.probe import media_info
from orchestrator.media.target import speech_target

# The loop's probe: how late a 10 ms sleep wakes while the pool converts.
TICK_S = 0.01
GOAL_RATIO = 0.9
GOAL_TELEPHONY_X = 300.0
GOAL_LATENESS_MS = 50.0


@dataclass(frozen=True)
class Group:
    """Files of one kind in the corpus: how many, and how each is written."""

    name: str
    count: int
    suffix: str
    container: str
    codec: str
    rate: int
    channels: int


@dataclass
class Tally:
    """One contender's figures over one group."""

    audio_s: float = 0.0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    bytes_out: int = 0

    @property
    def speed(self) -> float | None:
        """Audio seconds per CPU second (times real time per core)."""
        return self.audio_s / self.cpu_s if self.cpu_s > 0 else None


@dataclass
class Result:
    """The bench's figures: per group, ours and ffmpeg's; the loop's lateness."""

    bytes_in: dict[str, int] = field(default_factory=dict)
    ours: dict[str, Tally] = field(default_factory=dict)
    ffmpeg: dict[str, Tally] | None = None
    lateness_ms: list[float] = field(default_factory=list)
    startup_cpu_s: float = 0.0
    daemon: DaemonResult | None = None


def groups(files: int, quick: bool) -> list[Group]:
    """The corpus: mostly telephony, some of each other refused format."""
    other = 1 if quick else max(1, files // 5)
    return [
        Group("telephony µ-law WAV 8k stereo", files, ".wav", "wav", "pcm_mulaw", 8000, 2),
        Group("WAV 44.1k stereo", other, ".wav", "wav", "pcm_s16le", 44100, 2),
        Group("FLAC 44.1k stereo", other, ".flac", "flac", "flac", 44100, 2),
        Group("M4A (AAC) 44.1k mono", other, ".m4a", "mp4", "aac", 44100, 1),
    ]


def speech_like(rate: int, channels: int, seconds: float, seed: int) -> bytes:
    """Interleaved 16-bit samples: a second of tone bursts and pauses with a little noise,
    a different pitch per channel, repeated to ``seconds``."""
    rng = random.Random(seed)
    second = array("h")
    for index in range(rate):
        t = index / rate
        voiced = (t % 0.5) < 0.3
        for channel in range(channels):
            pitch = 140 + 60 * channel
            tone = sum(0.3 / k * ((((t * pitch * k) % 1.0) < 0.5) * 2 - 1) for k in (1, 2, 3))
            value = (tone if voiced else 0.0) + rng.gauss(0, 0.01)
            second.append(max(-32767, min(32767, round(value * 12000))))
    whole = second.tobytes() * int(seconds)
    return whole + second.tobytes()[: round((seconds % 1) * rate) * channels * 2]


def write(group: Group, path: Path, seconds: float, seed: int) -> None:
    """One file of ``group`` at ``path``."""
    layout = "mono" if group.channels == 1 else "stereo"
    data = speech_like(group.rate, group.channels, seconds, seed)
    step = group.rate // 10 * group.channels * 2
    with av.open(str(path), "w", format=group.container) as out:
        stream = out.add_stream(group.codec, rate=group.rate, layout=layout)
        assert isinstance(stream, av.AudioStream)
        for offset in range(0, len(data), step):
            chunk = data[offset : offset + step]
            frame = av.AudioFrame(
                format="s16", layout=layout, samples=len(chunk) // (2 * group.channels)
            )
            frame.planes[0].update(chunk)
            frame.sample_rate = group.rate
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def make_corpus(folder: Path, corpus: list[Group], seconds: float) -> dict[str, list[Path]]:
    """Each group's files: one written, the others copies (so every file is read from disk)."""
    made: dict[str, list[Path]] = {}
    for number, group in enumerate(corpus):
        first = folder / f"g{number}-000{group.suffix}"
        write(group, first, seconds, seed=number)
        made[group.name] = [first]
        for index in range(1, group.count):
            copy = folder / f"g{number}-{index:03d}{group.suffix}"
            shutil.copyfile(first, copy)
            made[group.name].append(copy)
    return made


async def watch_loop(lateness: list[float], stop: asyncio.Event) -> None:
    """Sleep TICK_S again and again, recording how late each wake-up is, in ms."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        asked = loop.time()
        await asyncio.sleep(TICK_S)
        lateness.append(max(0.0, (loop.time() - asked - TICK_S) * 1000))


async def run_ours(corpus: dict[str, list[Path]], out: Path, workers: int, result: Result) -> None:
    """Convert every file with a MediaPool, watching the loop meanwhile."""
    pool = MediaPool(workers)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_loop(result.lateness_ms, stop))
    try:
        for name, files in corpus.items():
            started = time.perf_counter()
            done = await asyncio.gather(
                *(
                    pool.run(
                        convert_file,
                        src,
                        out / f"{src.stem}.ours.ogg",
                        timeout_s=time_bound(3600),
                        path=str(src),
                    )
                    for src in files
                )
            )
            result.ours[name] = tally(done, time.perf_counter() - started)
    finally:
        stop.set()
        await watcher
        await pool.close()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    spent = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    result.startup_cpu_s = max(0.0, spent - sum(t.cpu_s for t in result.ours.values()))


def tally(done: list[Done], wall_s: float) -> Tally:
    """The figures of one group's conversions."""
    return Tally(
        sum(d.audio_s for d in done),
        sum(d.cpu_s for d in done),
        wall_s,
        sum(d.bytes_out for d in done),
    )


def ffmpeg_command(ffmpeg: str, src: Path, dst: Path) -> list[str]:
    """The ``ffmpeg`` command doing what the daemon's conversion does to ``src``."""
    target = speech_target(media_info(src))
    return [
        ffmpeg, "-nostdin", "-v", "error", "-threads", "1", "-i", str(src), "-map", "0:a:0",
        "-c:a", "libopus", "-application", "audio", "-frame_duration", "60",
        "-b:a", str(target.bit_rate), "-ar", str(target.sample_rate),
        "-ac", str(target.channels), "-y", str(dst),
    ]  # fmt: skip


async def run_ffmpeg(
    ffmpeg: str, corpus: dict[str, list[Path]], out: Path, workers: int
) -> dict[str, Tally]:
    """Convert every file with the ``ffmpeg`` command line, ``workers`` at once."""
    tallies: dict[str, Tally] = {}
    slots = asyncio.Semaphore(workers)

    async def one(src: Path) -> int:
        dst = out / f"{src.stem}.ffmpeg.ogg"
        async with slots:
            child = await asyncio.create_subprocess_exec(*ffmpeg_command(ffmpeg, src, dst))
            if await child.wait() != 0:
                raise RuntimeError(f"ffmpeg failed on {src.name}")
        return dst.stat().st_size

    for name, files in corpus.items():
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        sizes = await asyncio.gather(*(one(src) for src in files))
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        audio = sum(media_info(src).duration_s for src in files)
        tallies[name] = Tally(audio, cpu, wall, sum(sizes))
    return tallies


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}x"


def _kib(value: int | None) -> str:
    return "-" if value is None else f"{value / 1024:.0f} KiB"


def _ratio(ours: float | None, theirs: float | None) -> str:
    return "-" if ours is None or not theirs else f"{ours / theirs:.2f}x"


def render(result: Result, workers: int) -> str:
    """The printed tables: throughput per core and bytes per group, then the loop."""
    header = ("files", "audio", "ours xRT/core", "ffmpeg xRT/core", "ours/ffmpeg",
              "wall ours", "wall ffmpeg", "bytes in", "out ours", "out ffmpeg")  # fmt: skip
    rows = []
    for name, ours in result.ours.items():
        theirs = result.ffmpeg.get(name) if result.ffmpeg else None
        speed = None if theirs is None else theirs.speed
        rows.append([
            name, f"{ours.audio_s:.0f} s", _x(ours.speed), _x(speed),
            _ratio(ours.speed, speed), f"{ours.wall_s:.2f} s",
            "-" if theirs is None else f"{theirs.wall_s:.2f} s",
            _kib(result.bytes_in[name]), _kib(ours.bytes_out),
            _kib(theirs.bytes_out if theirs else None),
        ])  # fmt: skip
    lines = [f"conversion to Ogg Opus for speech, {workers} workers", *table(header, rows)]
    if result.ffmpeg is None:
        lines.append("ffmpeg: not installed, the baseline is skipped")
    lines.append(
        f"pool start-up (spawn, imports; once per daemon): {result.startup_cpu_s:.2f} CPU s"
    )
    late = sorted(result.lateness_ms) or [0.0]
    p99 = late[min(len(late) - 1, int(len(late) * 0.99))]
    lines.append(
        f"event loop lateness while converting: p50 {statistics.median(late):.1f} ms, "
        f"p99 {p99:.1f} ms, max {late[-1]:.1f} ms (goal: p99 under {GOAL_LATENESS_MS:.0f} ms)"
    )
    lines.append(
        f"goals: ours/ffmpeg at least {GOAL_RATIO}x; telephony at least "
        f"{GOAL_TELEPHONY_X:.0f}x real time per core"
    )
    if result.daemon is not None:
        lines.extend(render_daemon(result.daemon))
    return "\n".join(lines)


async def run(opts: argparse.Namespace, work: Path) -> Result:
    """Generate the corpus in ``work`` and convert it both ways."""
    corpus = make_corpus(work, groups(opts.files, opts.quick), opts.seconds)
    out = work / "out"
    out.mkdir()
    result = Result(bytes_in={n: sum(p.stat().st_size for p in f) for n, f in corpus.items()})
    await run_ours(corpus, out, opts.workers, result)
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is not None:
        result.ffmpeg = await run_ffmpeg(ffmpeg, corpus, out, opts.workers)
    if opts.daemon_files > 0:
        result.daemon = await run_daemon(opts, work / "daemon")
    return result


async def run_daemon(opts: argparse.Namespace, work: Path) -> DaemonResult:
    """The real daemon converting telephony WAVs, its status endpoint timed meanwhile."""
    audio = work / "audio"
    await asyncio.to_thread(audio.mkdir, parents=True)
    first = audio / "call-000.wav"
    await asyncio.to_thread(write, groups(1, True)[0], first, opts.daemon_seconds, 99)
    files = await asyncio.to_thread(copies, first, opts.daemon_files)
    return await measure_daemon(files, opts.daemon_seconds * len(files), work)


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.convert", description=__doc__)
    parser.add_argument("--files", type=int, default=20, help="telephony files (default 20)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each file")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--daemon-files",
        type=int,
        default=60,
        help="telephony files the real daemon converts while its status endpoint is timed "
        "(default 60; 0: skip that part)",
    )
    parser.add_argument(
        "--daemon-seconds", type=float, default=120.0, help="length of each of those files"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny corpus")
    parser.add_argument("--workdir", type=Path, help="keep the corpus here (default: a temp dir)")
    opts = parser.parse_args(argv)
    if opts.quick:
        opts.files, opts.seconds = min(opts.files, 2), min(opts.seconds, 3.0)
        opts.daemon_files = min(opts.daemon_files, 3)
        opts.daemon_seconds = min(opts.daemon_seconds, 5.0)
    return opts


def main(argv: list[str] | None = None) -> int:
    """Run the bench, print its tables; 0."""
    opts = parse(argv)
    work = opts.workdir or Path(tempfile.mkdtemp(prefix="speechkit-bench-convert-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        result = asyncio.run(run(opts, work))
    finally:
        if opts.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(render(result, opts.workers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
