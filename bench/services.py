"""The services every contender runs against: a fresh S3 server and a fresh emulator.

Both run as child processes (moto's server and ``python -m orchestrator emulator``), so
neither shares a CPU-bound event loop with the contender being measured.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import aiohttp

from bench import procs
from bench.cpu import live_cpu
from bench.workload import AudioFile

STATS_PATH = "/_emulator/stats"
S3_REGION = "ru-central1"
BUCKET = "speechkit-bench"
STARTUP_S = 60.0
UPLOADS_AT_ONCE = 4


@dataclass(frozen=True)
class Credentials:
    """Throw-away credentials for one bench run (moto accepts any; the emulator checks its key)."""

    api_key: str
    s3_access_key: str
    s3_secret_key: str

    @classmethod
    def fresh(cls) -> Credentials:
        """New random credentials."""
        return cls(
            api_key=secrets.token_urlsafe(16),
            s3_access_key="bench-access-key",
            s3_secret_key=secrets.token_urlsafe(16),
        )


@dataclass(frozen=True)
class EmulatorKnobs:
    """Emulator options a regime sets; None leaves the emulator's own default.

    Names are the emulator's options (``--submit-quota`` ...); the quota window is in
    wall seconds, as the emulator counts it.
    """

    submit_quota: int | None = None
    status_quota: int | None = None
    quota_window: float | None = None
    processing_noise: float | None = None
    max_concurrent: int | None = None
    processing_overhead_s: float | None = None

    def args(self) -> list[str]:
        """The command-line options, in field order."""
        out: list[str] = []
        for item in fields(self):
            value = getattr(self, item.name)
            if value is not None:
                out += ["--" + item.name.replace("_", "-"), repr(value)]
        return out


@dataclass(frozen=True)
class Served:
    """A service child: where it answers, and its process id."""

    address: str
    pid: int


@dataclass(frozen=True)
class Services:
    """A running S3 endpoint with the bench bucket, and a running emulator."""

    s3_endpoint: str
    emulator_url: str
    bucket: str
    s3_pid: int = 0
    emulator_pid: int = 0

    def cpu_s(self) -> dict[str, float | None]:
        """CPU seconds the emulator and the S3 server have used so far (None: unknown).

        Not a contender's figure: a sign of how loaded the bench's own services were.
        """
        times = {"emulator": live_cpu(self.emulator_pid), "s3": live_cpu(self.s3_pid)}
        return {name: None if t is None else round(t.total_s, 3) for name, t in times.items()}


async def _first_line(process: asyncio.subprocess.Process, what: str, log: Path) -> str:
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), STARTUP_S)
    except TimeoutError:
        raise RuntimeError(f"{what} did not start within {STARTUP_S:g} s") from None
    if not line:
        raise RuntimeError(f"{what} exited at start; see {log}")
    return line.decode("utf-8", "replace").strip()


async def _drain(stream: asyncio.StreamReader | None, log: Path) -> None:
    # The child must never block on a full pipe; what it says is kept for a post-mortem.
    if stream is None:
        return
    with log.open("ab") as out:
        while chunk := await stream.read(65536):
            out.write(chunk)


@asynccontextmanager
async def s3_server(env: dict[str, str], log: Path) -> AsyncIterator[Served]:
    """moto's S3 server in a child process; yields its endpoint URL and pid."""
    process = await procs.spawn(
        [sys.executable, "-m", "bench.s3server"],
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    drain: asyncio.Task[None] | None = None
    try:
        endpoint = await _first_line(process, "the S3 server", log)
        drain = asyncio.create_task(_drain(process.stdout, log))
        yield Served(endpoint, process.pid)
    finally:
        if process.stdin is not None:
            process.stdin.close()
        await procs.stop(process)
        if drain is not None:
            await drain


@asynccontextmanager
async def emulator(
    *,
    s3_endpoint: str,
    creds: Credentials,
    speed: float,
    seed: int,
    knobs: EmulatorKnobs,
    env: dict[str, str],
    log: Path,
) -> AsyncIterator[Served]:
    """The emulator in a child process with ``knobs`` (else its defaults); yields its URL."""
    child_env = {
        **env,
        "SPEECHKIT_EMULATOR_API_KEY": creds.api_key,
        "SPEECHKIT_EMULATOR_S3_ACCESS_KEY": creds.s3_access_key,
        "SPEECHKIT_EMULATOR_S3_SECRET_KEY": creds.s3_secret_key,
    }
    process = await procs.spawn(
        [
            sys.executable,
            "-m",
            "orchestrator",
            "emulator",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--s3-endpoint",
            s3_endpoint,
            "--s3-region",
            S3_REGION,
            "--speed",
            repr(speed),
            "--seed",
            str(seed),
            # The pollers honour Retry-After; the emulator no longer sends it by default.
            "--retry-after",
            *knobs.args(),
        ],
        env=child_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    drain: asyncio.Task[None] | None = None
    try:
        line = await _first_line(process, "the emulator", log)
        if "listening on " not in line:
            raise RuntimeError(f"the emulator said {line!r} instead of its address; see {log}")
        url = line.rsplit("listening on ", 1)[1].strip()
        drain = asyncio.create_task(_drain(process.stdout, log))
        yield Served(url, process.pid)
    finally:
        await procs.stop(process)
        if drain is not None:
            await drain


@asynccontextmanager
async def services(
    *,
    creds: Credentials,
    speed: float,
    seed: int,
    env: dict[str, str],
    logs: Path,
    knobs: EmulatorKnobs | None = None,
) -> AsyncIterator[Services]:
    """A fresh S3 server with an empty bench bucket and a fresh emulator reading from it."""
    await asyncio.to_thread(logs.mkdir, parents=True, exist_ok=True)
    async with s3_server(env, logs / "s3.log") as s3:
        endpoint = s3.address
        async with _s3_client(endpoint, creds) as client:
            await client.create_bucket(
                Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": S3_REGION}
            )
        async with emulator(
            s3_endpoint=endpoint,
            creds=creds,
            speed=speed,
            seed=seed,
            knobs=knobs or EmulatorKnobs(),
            env=env,
            log=logs / "emulator.log",
        ) as emu:
            yield Services(
                s3_endpoint=endpoint,
                emulator_url=emu.address,
                bucket=BUCKET,
                s3_pid=s3.pid,
                emulator_pid=emu.pid,
            )


@asynccontextmanager
async def _s3_client(endpoint: str, creds: Credentials) -> AsyncIterator[Any]:
    import aioboto3
    from botocore.config import Config

    session = aioboto3.Session()
    async with session.client(
        "s3",
        endpoint_url=endpoint,
        region_name=S3_REGION,
        aws_access_key_id=creds.s3_access_key,
        aws_secret_access_key=creds.s3_secret_key,
        config=Config(s3={"addressing_style": "path"}),
    ) as client:
        yield client


def object_key(audio: AudioFile) -> str:
    """Where a baseline's copy of ``audio`` (raw PCM without its header, or Ogg) is stored."""
    suffix = ".pcm" if audio.encoding == "LINEAR16_PCM" else ".ogg"
    return f"baseline/{Path(audio.name).stem}{suffix}"


async def upload_raw(
    endpoint: str, creds: Credentials, bucket: str, files: tuple[AudioFile, ...]
) -> None:
    """Upload what the service reads of each file: PCM without its WAV header, Ogg whole."""
    gate = asyncio.Semaphore(UPLOADS_AT_ONCE)
    async with _s3_client(endpoint, creds) as client:

        async def one(audio: AudioFile) -> None:
            async with gate:
                data = await asyncio.to_thread(audio.path.read_bytes)
                await client.put_object(
                    Bucket=bucket, Key=object_key(audio), Body=data[audio.data_offset :]
                )

        await asyncio.gather(*(one(a) for a in files))


async def emulator_stats(url: str) -> dict[str, Any]:
    """The emulator's counters (GET /_emulator/stats)."""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
        session.get(url + STATS_PATH) as answer,
    ):
        answer.raise_for_status()
        data: dict[str, Any] = json.loads(await answer.text())
        return data
