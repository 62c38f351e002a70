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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench import procs
from bench.workload import WAV_HEADER_BYTES, AudioFile

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
class Services:
    """A running S3 endpoint with the bench bucket, and a running emulator."""

    s3_endpoint: str
    emulator_url: str
    bucket: str


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
async def s3_server(env: dict[str, str], log: Path) -> AsyncIterator[str]:
    """moto's S3 server in a child process; yields its endpoint URL."""
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
        yield endpoint
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
    env: dict[str, str],
    log: Path,
) -> AsyncIterator[str]:
    """The emulator in a child process, its quotas the defaults (scaled); yields its URL."""
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
        yield url
    finally:
        await procs.stop(process)
        if drain is not None:
            await drain


@asynccontextmanager
async def services(
    *, creds: Credentials, speed: float, seed: int, env: dict[str, str], logs: Path
) -> AsyncIterator[Services]:
    """A fresh S3 server with an empty bench bucket and a fresh emulator reading from it."""
    await asyncio.to_thread(logs.mkdir, parents=True, exist_ok=True)
    async with s3_server(env, logs / "s3.log") as endpoint:
        async with _s3_client(endpoint, creds) as client:
            await client.create_bucket(
                Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": S3_REGION}
            )
        async with emulator(
            s3_endpoint=endpoint,
            creds=creds,
            speed=speed,
            seed=seed,
            env=env,
            log=logs / "emulator.log",
        ) as url:
            yield Services(s3_endpoint=endpoint, emulator_url=url, bucket=BUCKET)


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
    """Where a baseline's copy of ``audio`` (raw PCM, header stripped) is stored."""
    return f"baseline/{Path(audio.name).stem}.pcm"


async def upload_raw(
    endpoint: str, creds: Credentials, bucket: str, files: tuple[AudioFile, ...]
) -> None:
    """Upload each file's PCM data without its WAV header, as LINEAR16_PCM requires."""
    gate = asyncio.Semaphore(UPLOADS_AT_ONCE)
    async with _s3_client(endpoint, creds) as client:

        async def one(audio: AudioFile) -> None:
            async with gate:
                data = await asyncio.to_thread(audio.path.read_bytes)
                await client.put_object(
                    Bucket=bucket, Key=object_key(audio), Body=data[WAV_HEADER_BYTES:]
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
