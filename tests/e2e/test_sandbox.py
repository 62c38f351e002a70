"""``sandbox``: the walkthrough of docs/emulator.md, run as written, and its stopping."""

from __future__ import annotations

import os
import queue
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.daemon import REPO

DOC = REPO / "docs" / "emulator.md"
HEADING = "## Running the orchestrator against it: `sandbox`"
STARTED_S = 60.0


def walkthrough() -> list[str]:
    """The commands of the doc's sandbox walkthrough: its first ``sh`` block, comments cut."""
    section = DOC.read_text("utf-8").split(HEADING, 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None, "the walkthrough has no sh block"
    return [line.split("#", 1)[0].strip() for line in block[1].splitlines() if line.strip()]


class Sandbox:
    """The ``sandbox`` command running in ``cwd``, its output read line by line."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # A process group of its own, as a terminal gives a command: Ctrl-C is its.
            start_new_session=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, text: str) -> None:
        """Read its output until a line holds ``text``."""
        while True:
            try:
                line = self.lines.get(timeout=STARTED_S)
            except queue.Empty:
                raise AssertionError(f"no {text!r} in {''.join(self.seen)}") from None
            if line is None:
                raise AssertionError(f"it ended without {text!r}: {''.join(self.seen)}")
            self.seen.append(line)
            if text in line:
                return

    def addresses(self) -> list[tuple[str, int]]:
        """The S3 server's and the emulator's host and port, as it printed them."""
        urls = re.findall(r"at (http://[\w.:]+)", "".join(self.seen))
        assert len(urls) == 2, self.seen
        return [(urlsplit(u).hostname or "", urlsplit(u).port or 0) for u in urls]

    def stop(self, signum: int, group: bool = False) -> int:
        """Signal it (``group``: its whole process group, as Ctrl-C in a terminal does) and
        wait for its exit status."""
        if group:
            os.killpg(self.process.pid, signum)
        else:
            self.process.send_signal(signum)
        status = self.process.wait(timeout=60)
        self.reader.join(timeout=60)
        assert self.process.stdout is not None
        self.process.stdout.close()
        return status


def _group_gone(sandbox: Sandbox) -> bool:
    """Whether no process of its group (its own, the emulator) is left."""
    try:
        os.killpg(sandbox.process.pid, 0)
    except ProcessLookupError:
        return True
    return False


def _listening(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def workdir(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A directory holding a copy of the examples, and an environment whose PATH finds
    ``speechkit-orchestrator`` (the one installed beside this Python)."""
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "speechkit-orchestrator").exists()
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("NOTIFY_SOCKET", None)
    return tmp_path, env


def test_the_docs_walkthrough_runs_as_written(workdir: tuple[Path, dict[str, str]]) -> None:
    cwd, env = workdir
    first, *rest = walkthrough()
    assert first == "speechkit-orchestrator sandbox"
    sandbox = Sandbox(shlex.split(first), cwd, env)
    try:
        sandbox.wait_for("Ctrl-C stops")
        outputs = []
        for line in rest:
            done = subprocess.run(
                shlex.split(line),
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=180,
                check=False,
            )
            assert done.returncode == 0, (line, done.stdout, done.stderr)
            outputs.append(done.stdout)
        addresses = sandbox.addresses()
    finally:
        status = sandbox.stop(signal.SIGINT)
    assert status == 0
    # It printed the very commands the walkthrough gives.
    for line in rest[:-1]:
        assert any(line in seen for seen in sandbox.seen), line
    results = cwd / "sandbox" / "results" / "demo"
    transcripts = sorted(results.glob("*.txt"))
    assert transcripts
    assert all("[emulated]" in p.read_text("utf-8") for p in transcripts if p.name != "report.txt")
    assert "6 done" in outputs[-2]  # status
    assert "report.json" in outputs[-1]  # ls
    # Nothing it started is left running.
    assert _group_gone(sandbox)
    assert not any(_listening(a) for a in addresses)
    secrets = sorted((cwd / "sandbox" / "secrets").iterdir())
    assert len(secrets) == 3
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in secrets)


def test_sigterm_stops_both_services_and_exits_0(workdir: tuple[Path, dict[str, str]]) -> None:
    cwd, env = workdir
    command = ["speechkit-orchestrator", "sandbox", "--dir", "elsewhere"]
    sandbox = Sandbox(command, cwd, env)
    try:
        sandbox.wait_for("sandbox: ready")
        addresses = sandbox.addresses()
        assert all(_listening(a) for a in addresses)
    finally:
        status = sandbox.stop(signal.SIGTERM)
    assert status == 0
    assert _group_gone(sandbox)
    assert not any(_listening(a) for a in addresses)
    assert (cwd / "elsewhere" / "config.yaml").exists()


def test_ctrl_c_in_a_terminal_stops_everything_and_exits_0(
    workdir: tuple[Path, dict[str, str]],
) -> None:
    # The terminal sends SIGINT to the emulator too: the sandbox still ends in order.
    cwd, env = workdir
    sandbox = Sandbox(["speechkit-orchestrator", "sandbox"], cwd, env)
    try:
        sandbox.wait_for("Ctrl-C stops")
        addresses = sandbox.addresses()
    finally:
        status = sandbox.stop(signal.SIGINT, group=True)
    assert status == 0
    assert _group_gone(sandbox)
    assert "sandbox: stopped" in "".join(sandbox.seen) + "".join(_rest(sandbox))
    assert not any(_listening(a) for a in addresses)


def _rest(sandbox: Sandbox) -> list[str]:
    """What it printed after the lines read so far."""
    rest = []
    while (line := sandbox.lines.get(timeout=STARTED_S)) is not None:
        rest.append(line)
    return rest
