"""Credentials that renew, end to end: the daemon runs across three IAM token lifetimes
(scaled: the emulator's tokens live two seconds) with each renewable source, fails no
job, meets at most one 401 per renewal, and shows the secrets nowhere."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from orchestrator.emulator import RunningEmulator
from tests.conftest import S3Server
from tests.support.daemon import DaemonEnv
from tests.support.emulator import emulator
from tests.support.wavs import make_wavs

pytestmark = pytest.mark.e2e

LIFETIME_S = 2.0
LIFETIMES = 3
MANIFESTS = 7  # one each ~LIFETIME_S * LIFETIMES / MANIFESTS, over three lifetimes
PER_MANIFEST = 2
LIMIT_S = 60.0


def credential_config(source: str, emu: RunningEmulator, root: Path) -> dict[str, Any]:
    """The speechkit keys that choose ``source``, against the emulator."""
    if source == "authorized_key":
        return {
            "authorized_key_file": str(root / "sa-key.json"),
            "iam_url": emu.url + "/iam/v1/tokens",
        }
    if source == "metadata":
        return {"metadata_token": True, "metadata_url": emu.url}
    return {"iam_token_file": str(root / "iam-token")}


def write_token(emu: RunningEmulator, path: Path) -> None:
    """What an external refresher does: a new token, written atomically (a new inode)."""
    token, _expires = emu.emulator.iam.issue("refresher", time.time())
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(token + "\n", "utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)


async def refresher(emu: RunningEmulator, path: Path) -> None:
    """Rewrite the token file three times per lifetime, until cancelled."""
    while True:
        await asyncio.sleep(LIFETIME_S / 3)
        write_token(emu, path)


def make_env(
    tmp_path: Path, s3: S3Server, bucket: str, emu: RunningEmulator, source: str
) -> DaemonEnv:
    """A daemon config whose only credential is ``source``."""
    env = DaemonEnv.create(tmp_path, s3, bucket, emu.url)
    del env.config["speechkit"]["api_key_env"]
    if source == "token_file":
        write_token(emu, tmp_path / "iam-token")
    env.update_config(speechkit=credential_config(source, emu, tmp_path))
    return env


async def feed(env: DaemonEnv, audio: Path, http: aiohttp.ClientSession) -> list[Any]:
    """Put a manifest every little while over three lifetimes; /status and /healthz
    as they were midway."""
    (ready,) = await env.wait_for_event("daemon.ready", limit_s=LIMIT_S)
    seen: list[Any] = []
    for number in range(MANIFESTS):
        # Each file its own content: none is a copy of an earlier one's transcript.
        names = make_wavs(audio, PER_MANIFEST, seed=number, prefix=f"m{number}")
        jobs = [{"audio": name} for name in names]
        env.put_manifest(f"m{number}", jobs, base_dir=audio)
        await asyncio.sleep(LIFETIME_S * LIFETIMES / MANIFESTS)
        if number == MANIFESTS // 2:
            async with http.get(ready["status_address"] + "/status") as answer:
                seen.append(await answer.text())
            async with http.get(ready["status_address"] + "/healthz") as answer:
                seen.append(await answer.json())
    for number in range(MANIFESTS):
        await env.wait_for_event("manifest.finished", manifest=f"m{number}", limit_s=LIMIT_S)
    return seen


def secrets_of(emu: RunningEmulator, root: Path) -> list[str]:
    """Every IAM token the emulator issued, and the lines of the private key."""
    found = list(emu.emulator.iam.expiry)
    key = json.loads((root / "sa-key.json").read_text("utf-8"))
    found += [line for line in key["private_key"].splitlines() if len(line) > 40]
    return found


def store_bytes(root: Path) -> bytes:
    """The state store's files, as bytes."""
    return b"".join(path.read_bytes() for path in (root / "state").iterdir() if path.is_file())


@pytest.mark.parametrize("source", ["authorized_key", "metadata", "token_file"])
async def test_three_token_lifetimes_fail_no_job_and_show_no_secret(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, source: str
) -> None:
    key_path = tmp_path / "sa-key.json"
    async with (
        emulator(
            s3_server,
            speed=1000,
            iam_token_lifetime_s=LIFETIME_S,
            authorized_key_path=str(key_path),
            api_keys=(),
            iam_tokens=(),
        ) as emu,
        aiohttp.ClientSession() as http,
    ):
        env = make_env(tmp_path, s3_server, s3_bucket, emu, source)
        audio = tmp_path / "audio"
        background = (
            asyncio.create_task(refresher(emu, tmp_path / "iam-token"))
            if source == "token_file"
            else None
        )
        began = time.monotonic()
        daemon = await env.start()
        try:
            seen = await feed(env, audio, http)
        finally:
            assert await env.stop(daemon) == 0
            if background is not None:
                background.cancel()
        took = time.monotonic() - began
        stats = emu.stats()
        secrets = secrets_of(emu, tmp_path)

    assert took >= LIFETIMES * LIFETIME_S
    assert not env.events("job.failed")
    assert len(env.events("manifest.finished")) == MANIFESTS
    issued = sum(stats["iam"]["tokens_issued"].values())
    assert issued >= LIFETIMES
    # At most one 401 for each renewal, and none for an unknown credential.
    refused = stats["unauthenticated"]
    assert refused.get("unknown", 0) == 0
    assert refused.get("expired", 0) <= issued
    assert seen[1] == {"status": "ok"}
    where = {
        "log": env.output(),
        "/status": seen[0],
        "store": store_bytes(tmp_path).decode("latin-1"),
    }
    for name, text in where.items():
        for secret in secrets:
            assert secret not in text, f"a secret in the {name}"


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_failed_renewal_keeps_jobs_waiting_until_a_reload_mends_it(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with (
        emulator(s3_server, api_keys=(), iam_tokens=()) as emu,
        aiohttp.ClientSession() as http,
    ):
        env = DaemonEnv.create(tmp_path, s3_server, s3_bucket, emu.url)
        del env.config["speechkit"]["api_key_env"]
        broken = f"http://127.0.0.1:{closed_port()}"
        # Two attempts at most: a wait that spent them would fail the jobs.
        env.update_config(
            speechkit={"metadata_token": True, "metadata_url": broken},
            retry={"max_attempts": 2},
        )
        daemon = await env.start()
        try:
            (ready,) = await env.wait_for_event("daemon.ready", limit_s=LIMIT_S)
            base = ready["status_address"]
            names = make_wavs(tmp_path / "audio", 3, prefix="wait")
            env.put_manifest("wait", [{"audio": n} for n in names], base_dir=tmp_path / "audio")
            await env.wait_for_event("credentials.refresh_failed", limit_s=LIMIT_S)
            await asyncio.sleep(4.0)  # several waits, each longer than the backoff's steps
            async with http.get(base + "/healthz") as answer:
                assert answer.status == 503
                health = await answer.json()
            async with http.get(base + "/metrics") as answer:
                metrics = await answer.text()
            env.update_config(speechkit={"metadata_url": emu.url})
            daemon.send_signal(signal.SIGHUP)
            (reloaded,) = await env.wait_for_event("daemon.reloaded", limit_s=LIMIT_S)
            await env.wait_for_event("manifest.finished", manifest="wait", limit_s=LIMIT_S)
            async with http.get(base + "/healthz") as answer:
                assert answer.status == 200
        finally:
            assert await env.stop(daemon) == 0

    assert health["status"] == "degraded"
    (problem,) = health["problems"]
    assert problem.startswith("credentials (metadata): the metadata service at " + broken)
    assert "speechkit_orchestrator_credentials_ok 0" in metrics
    assert reloaded["restart_needed_for"] is None
    assert [e["source"] for e in env.events("credentials.changed")] == ["metadata"]
    assert len(env.events("credentials.refresh_failed")) == 1
    assert not env.events("job.failed")
    assert len(env.events("manifest.finished")) == 1
