"""Run the real CLI as a subprocess against moto's S3 server and the emulator.

async with emulated_daemon(tmp_path, s3_server, s3_bucket) as (emu, env):
    env.put_manifest("demo", [...])               # into the inbox
    result = await env.run_until_idle()             # `run --until-idle`, waits for exit
    env.events("job.state")                         # the daemon's JSON log lines
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orchestrator.emulator import RunningEmulator
from tests.support.emulator import DEFAULT_TEST_SPEED, TEST_API_KEY, S3ServerLike, emulator

REPO = Path(__file__).resolve().parents[2]
AUDIO = REPO / "examples" / "audio"
DEMO_FILES = (
    "greeting-mono.ogg",
    "call-stereo.ogg",
    "podcast-mono.mp3",
    "meeting-stereo.mp3",
    "voicemail-mono.wav",
    "interview-stereo.wav",
)


@dataclass
class CliResult:
    """A finished CLI process."""

    returncode: int
    stdout: str
    stderr: str


@dataclass
class DaemonEnv:
    """A working directory with a config pointing at the test's S3 server and emulator."""

    root: Path
    config_path: Path
    env: dict[str, str]
    config: dict[str, Any]
    log_files: list[Path] = field(default_factory=list)
    # A command the CLI runs under (``setpriv ...``: root without its override of modes).
    wrapper: list[str] = field(default_factory=list)
    # Where tests/support/watch_files.py records every file the CLI opens (None: not).
    watch_log: Path | None = None

    @classmethod
    def create(
        cls,
        root: Path,
        s3: S3ServerLike,
        bucket: str,
        emulator_url: str,
        speed: float = DEFAULT_TEST_SPEED,
        **overrides: Any,
    ) -> DaemonEnv:
        """Write a config for a fast run (quotas, retries, polling scaled to ``speed``)."""
        config: dict[str, Any] = {
            "speechkit": {
                "transcribe_url": emulator_url,
                "operation_url": emulator_url,
                "stt_v3_url": emulator_url,
                "asr_xml_url": emulator_url,
                "api_key_env": "TEST_SPEECHKIT_API_KEY",
                "request_timeout_s": 10.0,
            },
            "storage": {
                "bucket": bucket,
                "endpoint_url": s3.endpoint_url,
                "access_key_id_env": "TEST_S3_ACCESS_KEY_ID",
                "secret_access_key_env": "TEST_S3_SECRET_ACCESS_KEY",
                "delete_after_done": True,
            },
            "paths": {
                "state_file": "state/orchestrator.sqlite3",
                "inbox": "inbox",
                "processed": "processed",
                "failed": "failed",
                "output": "results",
            },
            "polling": {
                "initial_ratio": 10.0 / 60.0 / speed,
                "min_interval_s": 0.05,
                # The emulator's timestamps are whole seconds of its sped-up clock.
                "timestamp_resolution_s": 1.0 / speed,
            },
            "retry": {"base_delay_s": 0.05, "max_delay_s": 0.5, "max_attempts": 8},
            "logging": {"format": "json", "level": "info"},
            "status": {"listen_port": 0},
            "service": {"drain_timeout_s": 10.0},
        }
        for section, values in overrides.items():
            config.setdefault(section, {}).update(values)
        root.mkdir(parents=True, exist_ok=True)
        config_path = root / "config.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False), "utf-8")
        env = {
            **os.environ,
            "TEST_SPEECHKIT_API_KEY": TEST_API_KEY,
            "TEST_S3_ACCESS_KEY_ID": s3.access_key,
            "TEST_S3_SECRET_ACCESS_KEY": s3.secret_key,
            "PYTHONUNBUFFERED": "1",
            # So that `-m tests.support...` is found whatever the directory pytest ran in.
            "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH")))),
        }
        env.pop("NOTIFY_SOCKET", None)
        env.pop("WATCHDOG_USEC", None)
        return cls(root=root, config_path=config_path, env=env, config=config)

    def update_config(self, **overrides: Any) -> None:
        """Merge ``overrides`` (section -> values) into the config and rewrite the file."""
        for section, values in overrides.items():
            self.config.setdefault(section, {}).update(values)
        tmp = self.config_path.with_name(f".{self.config_path.name}.tmp")
        tmp.write_text(yaml.safe_dump(self.config, sort_keys=False), "utf-8")
        # Atomically, as an operator's editor would: a reload never reads half a file.
        tmp.replace(self.config_path)

    # -- paths ---------------------------------------------------------------------------

    @property
    def inbox(self) -> Path:
        """The daemon's inbox."""
        return self.root / "inbox"

    @property
    def results(self) -> Path:
        """The output root."""
        return self.root / "results"

    def copy_audio(self, names: tuple[str, ...] = DEMO_FILES, folder: str = "audio") -> Path:
        """Copy sample audio into the working directory; returns the folder."""
        target = self.root / folder
        target.mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copy(AUDIO / name, target / name)
        return target

    def put_manifest(
        self, name: str, jobs: list[dict[str, Any]], base_dir: Path | None = None, **top: Any
    ) -> Path:
        """Write a manifest straight into the inbox (atomically)."""
        document: dict[str, Any] = {"name": name, **top, "jobs": jobs}
        if base_dir is not None:
            document["base_dir"] = str(base_dir)
        self.inbox.mkdir(parents=True, exist_ok=True)
        tmp = self.inbox / f".{name}.yaml.tmp"
        tmp.write_text(yaml.safe_dump(document, sort_keys=False), "utf-8")
        target = self.inbox / f"{name}.yaml"
        tmp.rename(target)
        return target

    # -- processes -----------------------------------------------------------------------

    def command(self, *args: str) -> list[str]:
        """The CLI command line with this config."""
        sub, *rest = args
        watch = [] if self.watch_log is None else ["tests.support.watch_files", str(self.watch_log)]
        return [
            *self.wrapper,
            sys.executable,
            "-m",
            *watch,
            "orchestrator",
            sub,
            "--config",
            str(self.config_path),
            *rest,
        ]

    async def cli(self, *args: str, limit_s: float = 60.0) -> CliResult:
        """Run one CLI command to completion."""
        process = await asyncio.create_subprocess_exec(
            *self.command(*args),
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), limit_s)
        assert process.returncode is not None
        return CliResult(process.returncode, out.decode(), err.decode())

    async def start(
        self, *args: str, env: dict[str, str] | None = None
    ) -> asyncio.subprocess.Process:
        """Start ``run`` in the background; its output goes to a log file per start."""
        log = self.root / f"daemon-{len(self.log_files)}.log"
        self.log_files.append(log)
        handle = log.open("wb")
        try:
            return await asyncio.create_subprocess_exec(
                *self.command("run", "--settle-seconds", "0", *args),
                env=env or self.env,
                stdout=handle,
                stderr=asyncio.subprocess.STDOUT,
            )
        finally:
            handle.close()

    async def run_until_idle(self, limit_s: float = 120.0) -> int:
        """Run the daemon with ``--until-idle`` and wait for it to exit."""
        process = await self.start("--until-idle")
        try:
            return await asyncio.wait_for(process.wait(), limit_s)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise

    @staticmethod
    async def stop(process: asyncio.subprocess.Process, sig: int = signal.SIGTERM) -> int:
        """Signal the daemon and wait for it."""
        if process.returncode is None:
            process.send_signal(sig)
        return await asyncio.wait_for(process.wait(), 60)

    # -- what it said --------------------------------------------------------------------

    def output(self) -> str:
        """Everything the daemon processes printed."""
        return "".join(path.read_text("utf-8", errors="replace") for path in self.log_files)

    def report(self, name: str) -> dict[str, Any]:
        """The report.json the daemon wrote for manifest ``name``."""
        report: dict[str, Any] = json.loads(
            (self.results / name / "report.json").read_text("utf-8")
        )
        return report

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """The daemon's JSON log events, in order, optionally only those called ``name``."""
        found = []
        for line in self.output().splitlines():
            if not line.startswith("{"):
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if name is None or event.get("event") == name:
                found.append(event)
        return found

    async def wait_for_event(
        self, name: str, count: int = 1, limit_s: float = 60.0, **fields: Any
    ) -> list[dict[str, Any]]:
        """Wait until the logs hold ``count`` events ``name`` with ``fields``."""
        deadline = asyncio.get_running_loop().time() + limit_s
        while True:
            found = [e for e in self.events(name) if all(e.get(k) == v for k, v in fields.items())]
            if len(found) >= count:
                return found
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no {count} x {name} {fields} in:\n{self.output()[-4000:]}")
            await asyncio.sleep(0.05)


@asynccontextmanager
async def emulated_daemon(
    root: Path,
    s3: S3ServerLike,
    bucket: str,
    *,
    speed: float = DEFAULT_TEST_SPEED,
    emulator_options: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> AsyncIterator[tuple[RunningEmulator, DaemonEnv]]:
    """An emulator (``emulator_options`` are EmulatorSettings) and a daemon's directory
    configured for it, both at ``speed``; ``overrides`` go to ``DaemonEnv.create``."""
    async with emulator(s3, speed=speed, **(emulator_options or {})) as emu:
        yield emu, DaemonEnv.create(root, s3, bucket, emu.url, speed=speed, **overrides)


async def eventually(
    predicate: Callable[[], Awaitable[bool]], limit_s: float = 60.0, step_s: float = 0.05
) -> None:
    """Wait until ``predicate()`` is true (for state outside the daemon, such as the
    emulator's clock); AssertionError after ``limit_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError(f"still false after {limit_s} s: {predicate}")
        await asyncio.sleep(step_s)
