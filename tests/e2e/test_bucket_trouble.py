"""A wrong bucket or missing rights fail no job, end to end (the CLI as a subprocess, the
emulator, moto's S3 server): the daemon says so once, `/healthz` is degraded and the
`storage_ok` gauge 0, the jobs wait; once the bucket is mended the daemon notices by
itself (or at a reload, at once), says so once, and every job is done.

moto checks no rights, so "access denied" is a proxy in front of it answering S3's
``403 AccessDenied`` (tests/support/proxy.py) until the test lets requests through."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import S3Server
from tests.support.daemon import DEMO_FILES, DaemonEnv, emulated_daemon
from tests.support.proxy import RefusingProxy

pytestmark = pytest.mark.e2e

LIMIT_S = 90.0  # guards against a hung daemon, not timing assertions


def create_bucket(s3: S3Server, bucket: str) -> None:
    """What the operator does to mend a wrong bucket."""
    s3.client().create_bucket(  # type: ignore[attr-defined]
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": s3.region}
    )


def delete_bucket(s3: S3Server, bucket: str) -> None:
    """Empty the bucket and delete it (from under a running daemon)."""
    client: Any = s3.client()
    for item in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        client.delete_object(Bucket=bucket, Key=item["Key"])
    client.delete_bucket(Bucket=bucket)


async def health(http: aiohttp.ClientSession, address: str) -> tuple[int, dict[str, Any]]:
    """What /healthz answers: its status and body."""
    async with http.get(address + "/healthz") as answer:
        body: dict[str, Any] = await answer.json(content_type=None)
        return answer.status, body


async def storage_ok(http: aiohttp.ClientSession, address: str) -> str:
    """The storage_ok line of /metrics."""
    async with http.get(address + "/metrics") as answer:
        text = await answer.text()
    (line,) = [x for x in text.splitlines() if x.startswith("speechkit_orchestrator_storage_ok ")]
    return line


async def assert_degraded(env: DaemonEnv, bucket: str, code: str, failed: int = 0) -> None:
    """/healthz says why the daemon is degraded; the gauge is 0; no job has failed (but
    ``failed`` for their audio)."""
    (ready,) = await env.wait_for_event("daemon.ready", limit_s=LIMIT_S)
    address = ready["status_address"]
    async with aiohttp.ClientSession() as http:
        status, body = await health(http, address)
        assert status == 503
        assert body["status"] == "degraded"
        (problem,) = body["problems"]
        assert problem.startswith(f"storage (bucket {bucket}): ")
        assert code in problem
        assert await storage_ok(http, address) == "speechkit_orchestrator_storage_ok 0.0"
    failures = env.events("job.failed")
    assert len(failures) == failed
    assert {e["reason_class"] for e in failures} <= {"audio"}


async def assert_all_done_after_one_outage(env: DaemonEnv, name: str, jobs: int) -> None:
    """Every job done, the outage said once each way, /healthz healthy again."""
    (finished,) = await env.wait_for_event("manifest.finished", manifest=name, limit_s=LIMIT_S)
    assert finished["counts"] == {"done": jobs}, finished
    assert [e for e in env.events("job.failed") if e["manifest"] == name] == []
    assert len(env.events("storage.unavailable")) == 1
    assert len(env.events("storage.available")) == 1
    (ready,) = env.events("daemon.ready")
    async with aiohttp.ClientSession() as http:
        status, _ = await health(http, ready["status_address"])
        assert status == 200
        assert await storage_ok(http, ready["status_address"]) == (
            "speechkit_orchestrator_storage_ok 1.0"
        )
    report = env.report(name)
    assert report["counts"] == {"done": jobs}
    assert report["failures"] == []


@pytest.mark.parametrize("results_in_bucket", [False, True], ids=["results-on-disk", "in-bucket"])
async def test_a_daemon_started_without_its_bucket_fails_no_job_and_resumes_once_it_is_made(
    tmp_path: Path, s3_server: S3Server, results_in_bucket: bool
) -> None:
    bucket = f"not-yet-{uuid.uuid4().hex[:8]}"
    # Results to the bucket (and, so that the report is read alike, to disk as well).
    outputs = {"s3_prefix": "results/", "local": True} if results_in_bucket else {}
    async with emulated_daemon(tmp_path, s3_server, bucket, outputs=outputs) as (_emu, env):
        audio = env.copy_audio()
        env.put_manifest("early", [{"audio": name} for name in DEMO_FILES], base_dir=audio)
        if results_in_bucket:
            # asr_xml needs no bucket: its bad file fails at once, and the manifest's
            # report, bound for the bucket, waits for it (rather than fail every 10 s).
            (audio / "empty.wav").write_bytes(b"")
            env.put_manifest(
                "bad", [{"audio": "empty.wav"}], base_dir=audio, defaults={"api": "asr_xml"}
            )
        process = await env.start()
        try:
            (said,) = await env.wait_for_event("storage.unavailable", limit_s=LIMIT_S)
            assert said["level"] == "error"
            assert said["bucket"] == bucket
            assert said["code"] == "NoSuchBucket"
            if results_in_bucket:
                await env.wait_for_event("job.failed", manifest="bad", limit_s=LIMIT_S)
            await assert_degraded(env, bucket, "NoSuchBucket", failed=int(results_in_bucket))
            # Nothing that needs the bucket was tried meanwhile.
            assert env.events("upload.done") == []
            assert env.events("manifest.finished") == []
            create_bucket(s3_server, bucket)
            (back,) = await env.wait_for_event("storage.available", limit_s=LIMIT_S)
            assert back["bucket"] == bucket
            await assert_all_done_after_one_outage(env, "early", len(DEMO_FILES))
            if results_in_bucket:
                # The results and the report waited for the bucket, then went there.
                listing: Any = s3_server.client().list_objects_v2(  # type: ignore[attr-defined]
                    Bucket=bucket, Prefix="results/early/"
                )
                keys = {item["Key"] for item in listing.get("Contents", [])}
                assert "results/early/report.json" in keys
                assert len([k for k in keys if k.endswith(".json")]) > len(DEMO_FILES)
                (bad,) = await env.wait_for_event("manifest.finished", manifest="bad")
                assert bad["report_object"] == f"s3://{bucket}/results/bad/report.json"
                assert env.events("manifest.finish_error") == []
        finally:
            await env.stop(process)


async def test_uploads_that_meet_a_vanished_bucket_wait_and_go_on_once_it_is_back(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulated_daemon(tmp_path, s3_server, s3_bucket) as (_emu, env):
        audio = env.copy_audio()
        process = await env.start()
        try:
            await env.wait_for_event("daemon.ready", limit_s=LIMIT_S)
            delete_bucket(s3_server, s3_bucket)
            env.put_manifest("gone", [{"audio": name} for name in DEMO_FILES], base_dir=audio)
            (said,) = await env.wait_for_event("storage.unavailable", limit_s=LIMIT_S)
            # An upload met it, not a check: the job it was goes back to wait.
            assert ".write-check" not in said["error"]
            await assert_degraded(env, s3_bucket, "NoSuchBucket")
            create_bucket(s3_server, s3_bucket)
            await assert_all_done_after_one_outage(env, "gone", len(DEMO_FILES))
            # No job spent an attempt on it: none was retried.
            assert env.events("job.retry") == []
        finally:
            await env.stop(process)


async def test_access_denied_waits_and_a_reload_checks_again_at_once(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    host, port = s3_server.endpoint_url.removeprefix("http://").split(":")
    async with (
        RefusingProxy(host, int(port)) as proxy,
        emulated_daemon(
            tmp_path,
            s3_server,
            s3_bucket,
            storage={"endpoint_url": proxy.url},
            # Re-checks are rare: the reload, not a re-check, is what notices.
            retry={"base_delay_s": 60.0, "max_delay_s": 60.0},
        ) as (_emu, env),
    ):
        audio = env.copy_audio()
        env.put_manifest("denied", [{"audio": name} for name in DEMO_FILES], base_dir=audio)
        process = await env.start()
        try:
            (said,) = await env.wait_for_event("storage.unavailable", limit_s=LIMIT_S)
            assert said["code"] == "AccessDenied"
            await assert_degraded(env, s3_bucket, "AccessDenied")
            proxy.refusing = False  # the operator granted the rights
            assert process.pid is not None
            process.send_signal(signal.SIGHUP)
            await env.wait_for_event("daemon.reloaded", limit_s=LIMIT_S)
            await assert_all_done_after_one_outage(env, "denied", len(DEMO_FILES))
        finally:
            await env.stop(process)
