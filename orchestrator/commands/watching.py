"""The live view that ``submit --wait`` and ``status --watch`` share: a rich table redrawn in
place on a terminal (jobs by state, a bar, throughput, ETA, the latest failures and the
hooks), plain lines when stdout is not a terminal. What is shown is read by
``service.watching``; this module only draws it and paces the reads.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from orchestrator.commands.common import hook_line
from orchestrator.commands.plan import human_duration
from orchestrator.core.jobs import State
from orchestrator.service.watching import Progress

# The store is read this often, on a terminal or not, so that the end is seen at once.
LIVE_INTERVAL_S = 1.0
PLAIN_INTERVAL_S = LIVE_INTERVAL_S
# Not a terminal: a line per manifest when something changed, at most this often (a log
# is not a screen), except the line that says the manifest ended, which is never held.
PLAIN_LINE_S = 10.0
# A look that took long (a slow store) is not followed by another at once.
LOOK_COST_FACTOR = 4.0
STATE_ORDER = tuple(s.value for s in State)
STATE_STYLES = {
    "done": "green",
    "failed": "bold red",
    "cancelled": "red",
    "running": "cyan",
    "fetching": "cyan",
    "submitting": "blue",
    "uploaded": "blue",
    "uploading": "magenta",
    "waiting": "yellow",
    "queued": "dim",
}


@dataclass
class Frame:
    """One look at the store: the manifests' progress, lines about manifests not yet taken
    in, and whether the watch is over."""

    progress: list[Progress]
    waiting: list[str] = field(default_factory=list)
    done: bool = False


def _states(counts: dict[str, int]) -> list[tuple[str, int]]:
    return [(s, counts[s]) for s in STATE_ORDER if counts.get(s)]


def _eta(progress: Progress) -> str:
    if progress.finished:
        return "finished"
    if progress.eta_s is None:
        return "-"
    return human_duration(progress.eta_s)


def _rate(progress: Progress) -> str:
    return "-" if progress.jobs_per_min is None else f"{progress.jobs_per_min:.1f}"


def plain_line(progress: Progress, now: float) -> str:
    """One manifest on one line, for logs and pipes::

    calls: 12/36 ended (33%) | 10 done, 2 failed, 24 queued | 4.2 jobs/min | elapsed 2m 51s
    | ETA 5m 40s

    (one line; cut here to fit).
    """
    total = progress.total or 1
    states = ", ".join(f"{n} {s}" for s, n in _states(progress.counts)) or "no jobs"
    eta = "finished" if progress.finished else f"ETA {_eta(progress)}"
    return (
        f"{progress.name}: {progress.ended}/{progress.total} ended "
        f"({progress.ended * 100 // total}%) | {states} | {_rate(progress)} jobs/min | "
        f"elapsed {human_duration(progress.elapsed_s(now))} | {eta}"
    )


def frame_view(frame: Frame, now: float, title: str) -> RenderableType:
    """The frame as a rich renderable: a table of manifests, then the notes below it."""
    table = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left", expand=False)
    table.add_column("manifest", style="bold", no_wrap=True)
    table.add_column("progress", no_wrap=True)
    table.add_column("ended", justify="right", no_wrap=True)
    table.add_column("jobs by state")
    table.add_column("jobs/min", justify="right", no_wrap=True)
    table.add_column("elapsed", justify="right", no_wrap=True)
    table.add_column("ETA", justify="right", no_wrap=True)
    notes: list[RenderableType] = []
    for progress in frame.progress:
        total = max(progress.total, 1)
        bar = ProgressBar(
            total=total,
            completed=progress.ended,
            width=28,
            complete_style="yellow" if progress.failed else "green",
            finished_style="yellow" if progress.failed else "bold green",
        )
        states = Text(", ").join(
            Text(f"{n} {s}", style=STATE_STYLES.get(s, "")) for s, n in _states(progress.counts)
        )
        table.add_row(
            progress.name,
            bar,
            f"{progress.ended}/{progress.total} {progress.ended * 100 // total:>3}%",
            states,
            _rate(progress),
            human_duration(progress.elapsed_s(now)),
            _eta(progress),
        )
        for source, reason in progress.failures:
            # The file's name is enough here (the report has the whole path), and a reason
            # that starts with the path need not say it twice.
            name = PurePath(source).name or source
            why = reason.removeprefix(f"{source}: ")
            notes.append(Text(f"  {progress.name}: failed: {name}: {why}", style="red"))
        for hook in progress.hooks:
            style = {"delivered": "green", "failed": "red"}.get(hook["state"], "yellow")
            notes.append(Text(f"  {progress.name}: hook: {hook_line(hook, now)}", style=style))
    if not frame.progress and not frame.waiting:
        notes.append(Text("no active manifests", style="dim"))
    notes.extend(Text(line, style="yellow") for line in frame.waiting)
    return Group(table, *notes)


class Watch:
    """Calls ``look(now)`` each interval and shows its frame until the frame says it is
    done (or forever): live on a terminal, plain lines otherwise."""

    def __init__(
        self,
        console: Console,
        title: str,
        interval_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.console = console
        self.title = title
        self.live = console.is_terminal
        self.interval_s = interval_s or (LIVE_INTERVAL_S if self.live else PLAIN_INTERVAL_S)
        self.clock = clock
        self._said: dict[str, str] = {}
        self._said_at: dict[str, float] = {}

    async def run(self, look: Callable[[float], Awaitable[Frame]]) -> Frame:
        """Watch until ``look`` says it is done; its last frame."""
        if not self.live:
            while True:
                started = time.monotonic()
                frame = await look(self.clock())
                self.print_lines(frame, self.clock())
                if frame.done:
                    return frame
                await self._pause(time.monotonic() - started)
        with Live(console=self.console, auto_refresh=False, transient=False) as view:
            while True:
                started = time.monotonic()
                frame = await look(self.clock())
                view.update(frame_view(frame, self.clock(), self.title), refresh=True)
                if frame.done:
                    return frame
                await self._pause(time.monotonic() - started)

    async def _pause(self, look_took_s: float) -> None:
        await asyncio.sleep(max(self.interval_s, LOOK_COST_FACTOR * look_took_s))

    def print_lines(self, frame: Frame, now: float) -> None:
        """A plain line for each manifest (and waiting note) that changed since it was
        last said, behind an ISO time."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        lines: Sequence[tuple[str, str]] = [
            *((f"m{p.id}", plain_line(p, now)) for p in frame.progress),
            *((f"w{i}", line) for i, line in enumerate(frame.waiting)),
        ] or [("none", "no active manifests")]
        ended = {f"m{p.id}" for p in frame.progress if p.state != "active"}
        for key, line in lines:
            # The elapsed time changes every second: it alone is no news.
            news = line.split(" | elapsed ")[0] + line.rsplit(" | ", 1)[-1]
            if self._said.get(key) == news:
                continue
            held = now - self._said_at.get(key, float("-inf")) < PLAIN_LINE_S
            if held and not frame.done and key not in ended:
                continue
            self._said[key] = news
            self._said_at[key] = now
            self.console.print(f"{stamp} {line}", highlight=False, soft_wrap=True)
