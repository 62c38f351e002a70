"""Debian's Chromium, headless, as a subprocess: the DOM a page ends up with, and a screenshot.

    dom = await dump_dom(url, tmp_path)                     # the DOM serialised after load
    png = await screenshot(url, tmp_path / "page.png")      # a PNG of the window

Each call is one browser run with a new profile in a temporary directory, so nothing
carries over between calls and no browser is left running. ``--dump-dom`` prints the DOM
after the page has loaded, scripts included (a page whose text ran as markup would show
it there); it needs no protocol client and no download beyond Debian's package.

A machine without Chromium fails these tests with how to install it; it never skips them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import struct
import tempfile
from pathlib import Path

# Debian calls it chromium; other systems chromium-browser or google-chrome.
BINARIES = ("chromium", "chromium-browser", "google-chrome")
# A guard against a hung browser, not a timing assertion.
LIMIT_S = 90.0
WINDOW = (1280, 1000)


class BrowserMissing(RuntimeError):
    """No Chromium is installed."""


def chromium() -> str:
    """The Chromium binary on the PATH."""
    for name in BINARIES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserMissing(
        "Chromium is not installed (none of chromium, chromium-browser, google-chrome on the "
        "PATH); install it (Debian: apt-get install chromium) to run the status page tests"
    )


def _flags(profile: Path, window: tuple[int, int]) -> list[str]:
    flags = [
        "--headless",
        "--disable-gpu",
        # /dev/shm is small in containers; the renderer would crash on a large page.
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        # Nothing but the page under test: no updates, sync, or other calls out.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--window-size={window[0]},{window[1]}",
        f"--user-data-dir={profile}",
    ]
    if os.geteuid() == 0:
        # Chromium refuses to run as root with its sandbox (CI runs as root); the page is
        # the test's own, on loopback.
        flags.append("--no-sandbox")
    return flags


async def _run(args: list[str], limit_s: float) -> str:
    """Run the browser to its end; its standard output. Killed (with its helper processes)
    if it outlives ``limit_s``."""
    process = await asyncio.create_subprocess_exec(
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        # Its own process group, so that its renderer and GPU helpers go with it.
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), limit_s)
    except TimeoutError:
        os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        raise
    if process.returncode != 0:
        raise AssertionError(
            f"{args[0]} exited with {process.returncode}:\n{err.decode(errors='replace')[-3000:]}"
        )
    return out.decode("utf-8", errors="replace")


async def dump_dom(url: str, window: tuple[int, int] = WINDOW, limit_s: float = LIMIT_S) -> str:
    """The page's DOM, serialised by the browser once the page has loaded."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        return await _run([chromium(), *_flags(Path(profile), window), "--dump-dom", url], limit_s)


async def screenshot(
    url: str, path: Path, window: tuple[int, int] = WINDOW, limit_s: float = LIMIT_S
) -> Path:
    """A PNG of the browser's window showing ``url``, written to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        await _run(
            [chromium(), *_flags(Path(profile), window), f"--screenshot={path}", url], limit_s
        )
    return path


def png_size(path: Path) -> tuple[int, int]:
    """The width and height a PNG file says it has (AssertionError if it is no PNG)."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert head[12:16] == b"IHDR", f"{path} has no IHDR chunk first"
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)
