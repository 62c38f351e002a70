"""Several daemons (real CLI processes) on one PostgreSQL store: every job done once, no
quota overrun in any window, a dead daemon's jobs taken over once its leases run out, and
a 429 seen by one daemon pausing them all."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.conftest import S3Server
from tests.support.daemon import DaemonEnv
from tests.support.emulator import emulator
from tests.support.postgres import PostgresServer
from tests.support.wavs import make_wavs

pytestmark = pytest.mark.e2e

SPEED = 20
# The emulator's quotas; the daemons keep a margin below them, in count and in time. With
# three daemons, an emulator, an S3 server and PostgreSQL on two cores, a request may
# reach the service a few tenths of a second after the claim that spent it: the margin
# in time (15% of the window) must cover that.
WINDOW_S = 4.0
MARGIN = 0.2
SUBMITS, CHECKS = 12, 40


def cluster(
    root: Path,
    s3: S3Server,
    bucket: str,
    emulator_url: str,
    postgres: PostgresServer,
    nodes: tuple[str, ...],
    **overrides: Any,
) -> dict[str, DaemonEnv]:
    """One working directory (inbox, results) and config per node, one database for all."""
    url = postgres.create_database()
    envs = {}
    for node in nodes:
        sections: dict[str, Any] = {
            "state": {"url": url, "password_env": "TEST_PG_PASSWORD"},
            "service": {"node": node, "lease_s": 3.0, "drain_timeout_s": 10.0},
            "quotas": {
                "submissions": SUBMITS,
                "status_checks": CHECKS,
                "window_s": WINDOW_S,
                "safety_margin": MARGIN,
                # A frozen daemon (SIGSTOP below) sends its claimed requests late.
                "window_margin_s": WINDOW_S * MARGIN,
            },
        }
        for section, values in overrides.items():
            sections.setdefault(section, {}).update(values)
        env = DaemonEnv.create(root / node, s3, bucket, emulator_url, speed=SPEED, **sections)
        env.env["TEST_PG_PASSWORD"] = postgres.password
        envs[node] = env
    return envs


def manifest_with_audio(env: DaemonEnv, name: str, count: int, seed: int) -> list[str]:
    """A manifest of ``count`` local files in ``env``'s inbox; the file names."""
    names = make_wavs(env.root / "audio", count, seed=seed, prefix=name)
    env.put_manifest(name, [{"audio": n} for n in names], base_dir=env.root / "audio")
    return names


def events(envs: dict[str, DaemonEnv], name: str) -> dict[str, list[dict[str, Any]]]:
    """Each node's log events called ``name``."""
    return {node: env.events(name) for node, env in envs.items()}


def check_done_once(envs: dict[str, DaemonEnv], manifests: dict[str, str], jobs: int) -> None:
    """Every manifest's report (on its own node) says all done, each job written once."""
    for manifest, node in manifests.items():
        report = json.loads((envs[node].results / manifest / "report.json").read_text("utf-8"))
        assert report["counts"] == {"done": jobs}, report["failures"]
    written = Counter(e["job_id"] for evs in events(envs, "job.written").values() for e in evs)
    again = {e["job_id"] for evs in events(envs, "job.already_written").values() for e in evs}
    assert set(written.values()) == {1}
    assert set(written) | again == set(range(1, jobs * len(manifests) + 1))


Process = asyncio.subprocess.Process


async def start(envs: dict[str, DaemonEnv]) -> dict[str, Process]:
    """Start every daemon and wait until each is ready (a process's first requests are
    slow to leave while it starts: the work comes once they all run)."""
    processes = {node: await env.start() for node, env in envs.items()}
    for env in envs.values():
        await env.wait_for_event("daemon.ready")
    return processes


async def finish(
    envs: dict[str, DaemonEnv], processes: dict[str, Process], manifests: dict[str, str]
) -> None:
    """Wait for each manifest to be finished by its node, then stop every daemon."""
    for manifest, node in manifests.items():
        await envs[node].wait_for_event("manifest.finished", manifest=manifest, limit_s=180)
    codes = [await DaemonEnv.stop(process) for process in processes.values()]
    assert codes == [0] * len(processes)


async def kill_all(processes: dict[str, Process]) -> None:
    """Kill what is still running (a failed test)."""
    for process in processes.values():
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.mark.wire
async def test_three_daemons_share_the_work_and_the_quota(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, postgres_server: PostgresServer
) -> None:
    quotas = {"submit_quota": SUBMITS, "status_quota": CHECKS, "quota_window_s": WINDOW_S}
    async with emulator(s3_server, speed=SPEED, **quotas) as emu:
        envs = cluster(tmp_path, s3_server, s3_bucket, emu.url, postgres_server, ("a", "b", "c"))
        processes = await start(envs)
        try:
            for seed, node in enumerate(envs):
                manifest_with_audio(envs[node], f"calls-{node}", 10, seed)
            await finish(envs, processes, {f"calls-{n}": n for n in envs})
        finally:
            await kill_all(processes)
        stats = emu.stats()

    check_done_once(envs, {f"calls-{n}": n for n in envs}, 10)
    # No quota overrun in any sliding window, and never a 429.
    for name in ("submit", "status"):
        meter = stats["quotas"][name]
        assert meter["max_in_window"] <= meter["limit"], (name, meter)
    assert stats["throttled_total"] == 0, stats["throttled"]
    assert stats["summary"]["operations"] == 30
    # Local audio is uploaded by the node that took its manifest in, and nowhere else.
    for node, uploads in events(envs, "upload.done").items():
        assert uploads
        assert {e["manifest"] for e in uploads} == {f"calls-{node}"}
    # Submitting and checking were shared: every daemon did some of another's jobs.
    for node, moves in events(envs, "job.state").items():
        foreign = {e["manifest"] for e in moves if e["to"] in ("running", "fetching")}
        assert foreign - {f"calls-{node}"}, f"{node} worked only on its own manifest"


async def leases_of(database: str, password: str, node: str) -> set[int]:
    """Jobs whose lease a daemon of ``node`` holds right now."""
    connection = await asyncpg.connect(database, password=password)
    try:
        rows = await connection.fetch(
            "SELECT id FROM jobs WHERE left(lease_owner, length($1) + 1) = $1 || ':' "
            "AND lease_until > $2",
            node,
            time.time(),
        )
    finally:
        await connection.close()
    return {int(row["id"]) for row in rows}


async def test_a_killed_daemons_jobs_are_finished_by_the_others(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, postgres_server: PostgresServer
) -> None:
    quotas = {"submit_quota": SUBMITS, "status_quota": CHECKS, "quota_window_s": WINDOW_S}
    async with emulator(s3_server, speed=SPEED, **quotas) as emu:
        envs = cluster(tmp_path, s3_server, s3_bucket, emu.url, postgres_server, ("a", "b", "c"))
        database = envs["a"].config["state"]["url"]
        processes = await start(envs)
        victim = processes.pop("b")
        try:
            # b takes no manifest in: it only submits, checks and fetches the others' jobs.
            manifest_with_audio(envs["a"], "calls-a", 12, 1)
            manifest_with_audio(envs["c"], "calls-c", 12, 2)
            # Freeze b while it holds leases, so they are seen, then kill it.
            held: set[int] = set()
            for _ in range(200):
                seen = len(envs["b"].events("job.state"))
                await envs["b"].wait_for_event("job.state", count=seen + 1, limit_s=60)
                victim.send_signal(signal.SIGSTOP)
                held = await leases_of(database, postgres_server.password, "b")
                if held:
                    break
                victim.send_signal(signal.SIGCONT)
            assert held, "b never held a lease"
            victim.send_signal(signal.SIGKILL)
            assert await victim.wait() == -signal.SIGKILL
            await finish(envs, processes, {"calls-a": "a", "calls-c": "c"})
        finally:
            await kill_all({"b": victim, **processes})
        stats = emu.stats()

    check_done_once(envs, {"calls-a": "a", "calls-c": "c"}, 12)
    # What b held when it died was finished by a and c, none of it left "running".
    finished = {
        e["job_id"] for n in ("a", "c") for e in envs[n].events("job.state") if e["to"] == "done"
    }
    assert held <= finished
    assert stats["throttled_total"] == 0, stats["throttled"]


def epoch(event: dict[str, Any]) -> float:
    """The time of a log event, in seconds since the epoch."""
    return datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()


# It times each submission's arrival against a pause to a few tenths of a second: run with
# the wire tests, alone, since a daemon starved of CPU by other workers' conversions sends a
# request it was granted before the pause that much later (issue 22 makes that hold too).
@pytest.mark.wire
async def test_a_429_seen_by_one_daemon_pauses_them_all(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, postgres_server: PostgresServer
) -> None:
    # The service allows 3 submissions per 3 s; the daemons believe in 30: they will meet
    # a 429 with a Retry-After, and every daemon must wait it out.
    async with emulator(
        s3_server, speed=SPEED, submit_quota=3, quota_window_s=3.0, retry_after=True
    ) as emu:
        envs = cluster(
            tmp_path,
            s3_server,
            s3_bucket,
            emu.url,
            postgres_server,
            ("a", "b", "c"),
            quotas={"submissions": 30, "window_s": 3.0, "safety_margin": 0.0},
        )
        processes = await start(envs)
        try:
            manifest_with_audio(envs["a"], "calls-a", 12, 3)
            await finish(envs, processes, {"calls-a": "a"})
        finally:
            await kill_all(processes)
        stats = emu.stats()

    check_done_once(envs, {"calls-a": "a"}, 12)
    pauses = [
        (node, epoch(e), float(e["until"]))
        for node, evs in events(envs, "quota.paused").items()
        for e in evs
        if e["quota"] == "submit"
    ]
    long_pauses = [p for p in pauses if p[2] - p[1] > 1.0]
    assert long_pauses, pauses
    arrivals = stats["quotas"]["submit"]["arrivals"]
    # Once a pause is in the store, no daemon sends a submission until it ends (a request
    # claimed before it may still be on its way: a few tenths of a second of slack).
    for node, paused_at, until in long_pauses:
        inside = [t for t in arrivals if paused_at + 0.3 <= t < until - 0.05]
        assert not inside, (node, paused_at, until, inside)
    # The 429s were few: one daemon's pause held the others back.
    assert stats["throttled"].get("submit", 0) <= len(pauses) + 3 * 2, stats["throttled"]


async def test_results_in_object_storage_are_written_by_any_daemon(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, postgres_server: PostgresServer
) -> None:
    quotas = {"submit_quota": SUBMITS, "status_quota": CHECKS, "quota_window_s": WINDOW_S}
    async with emulator(s3_server, speed=SPEED, **quotas) as emu:
        envs = cluster(
            tmp_path,
            s3_server,
            s3_bucket,
            emu.url,
            postgres_server,
            ("a", "b"),
            outputs={"s3_prefix": "transcripts"},
        )
        processes = await start(envs)
        try:
            names = manifest_with_audio(envs["a"], "calls-a", 8, 4)
            await envs["a"].wait_for_event("manifest.finished", manifest="calls-a", limit_s=180)
            codes = [await DaemonEnv.stop(p) for p in processes.values()]
            assert codes == [0, 0]
        finally:
            await kill_all(processes)
        assert emu.stats()["throttled_total"] == 0

    client = s3_server.client()
    listing = client.list_objects_v2(Bucket=s3_bucket, Prefix="transcripts/")  # type: ignore[attr-defined]
    keys = {item["Key"] for item in listing.get("Contents", [])}
    for name in names:
        stem = name.removesuffix(".wav")
        assert {
            f"transcripts/calls-a/{stem}.{ext}" for ext in ("json", "txt", "srt", "vtt")
        } <= keys
    answer = client.get_object(Bucket=s3_bucket, Key="transcripts/calls-a/report.json")  # type: ignore[attr-defined]
    assert json.loads(answer["Body"].read())["counts"] == {"done": 8}
    (finished,) = envs["a"].events("manifest.finished")
    assert finished["report"] == f"s3://{s3_bucket}/transcripts/calls-a/report.json"
    # Nothing on the disk of either node: any daemon may fetch and write.
    assert not any(env.results.joinpath("calls-a").exists() for env in envs.values())
    written = {e["job_id"] for evs in events(envs, "job.written").values() for e in evs}
    assert len(written) == 8
