"""``demo``: the whole pipeline on a laptop: a local S3 server, the emulator, the daemon.

Everything it starts it stops; everything it writes goes under one directory
(``demo-output/`` by default), which it clears first so the demo can be run again.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DEMO_MANIFEST = EXAMPLES / "manifests" / "demo.yaml"
DEMO_BUCKET = "speechkit-demo"
# The emulator runs this many times faster than the real service; the daemon's first
# guess at processing time is scaled to match (it learns the real pace anyway).
DEMO_SPEED = 20.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``demo`` subcommand."""
    parser = sub.add_parser(
        "demo",
        help="run the whole pipeline locally (S3 server + emulator + daemon) on sample audio",
    )
    parser.add_argument(
        "--dir", type=Path, default=Path("demo-output"), help="working directory (cleared first)"
    )
    parser.add_argument(
        "--manifest", type=Path, default=DEMO_MANIFEST, help="manifest to run (default: demo)"
    )
    parser.set_defaults(handler=run)


def _start_s3() -> tuple[Any, str]:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        print(
            "error: the demo needs a local S3 server: pip install 'speechkit-orchestrator[demo]'",
            file=sys.stderr,
        )
        raise SystemExit(1) from None
    # Its per-request access log would drown the daemon's progress lines.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def _create_bucket(endpoint: str, access_key: str, secret_key: str) -> None:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="ru-central1",
    )
    client.create_bucket(
        Bucket=DEMO_BUCKET, CreateBucketConfiguration={"LocationConstraint": "ru-central1"}
    )


def _start_emulator(
    s3_endpoint: str, env: dict[str, str], log_path: Path
) -> tuple[subprocess.Popen[str], str]:
    command = [
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
        "--speed",
        str(DEMO_SPEED),
    ]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    with log_path.open("w", encoding="utf-8") as log:
        for line in process.stdout:
            log.write(line)
            if "listening on " in line:
                url = line.rsplit("listening on ", 1)[1].strip()
                # Keep draining its output so it never blocks on a full pipe.
                _drain(process, log_path)
                return process, url
    raise RuntimeError(f"the emulator did not start; see {log_path}")


def _drain(process: subprocess.Popen[str], log_path: Path) -> None:
    import threading

    def copy() -> None:
        assert process.stdout is not None
        with log_path.open("a", encoding="utf-8") as log:
            for line in process.stdout:
                log.write(line)

    threading.Thread(target=copy, daemon=True).start()


def _write_config(work: Path, emulator_url: str, s3_endpoint: str, manifest: Path) -> Path:
    config = {
        "speechkit": {
            "transcribe_url": emulator_url,
            "operation_url": emulator_url,
            "stt_v3_url": emulator_url,
            "asr_xml_url": emulator_url,
            "api_key_env": "SPEECHKIT_API_KEY",
            "request_timeout_s": 10.0,
        },
        "storage": {
            "bucket": DEMO_BUCKET,
            "endpoint_url": s3_endpoint,
            "access_key_id_env": "S3_ACCESS_KEY_ID",
            "secret_access_key_env": "S3_SECRET_ACCESS_KEY",
            "delete_after_done": True,
        },
        "paths": {
            "state_file": "state/orchestrator.sqlite3",
            "inbox": "inbox",
            "processed": "processed",
            "failed": "failed",
            "output": "results",
            # The sample audio, and the tree of the manifest being run.
            "input_roots": sorted({str(EXAMPLES), str(manifest.resolve().parent)}),
        },
        "polling": {
            "initial_ratio": 10.0 / 60.0 / DEMO_SPEED,
            "min_interval_s": 0.2,
            # The emulator's timestamps are whole seconds of its sped-up clock.
            "timestamp_resolution_s": 1.0 / DEMO_SPEED,
        },
        "retry": {"base_delay_s": 0.5, "max_delay_s": 5.0},
        "logging": {"format": "console", "level": "info"},
        "status": {"listen_port": 0},
        "service": {"drain_timeout_s": 10.0},
    }
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), "utf-8")
    return path


def _stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_emulator/stats", timeout=5) as answer:
        data: dict[str, Any] = json.load(answer)
        return data


def _orchestrator(*args: str, env: dict[str, str]) -> int:
    return subprocess.call([sys.executable, "-m", "orchestrator", *args], env=env)


def run(args: argparse.Namespace) -> int:
    """Start the local services, run the daemon until every job ended, show the results."""
    work: Path = args.dir.resolve()
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    api_key = secrets.token_urlsafe(16)
    env = {
        **os.environ,
        "SPEECHKIT_API_KEY": api_key,
        "SPEECHKIT_EMULATOR_API_KEY": api_key,
        "S3_ACCESS_KEY_ID": "demo-access-key",
        "S3_SECRET_ACCESS_KEY": secrets.token_urlsafe(16),
        "SPEECHKIT_EMULATOR_S3_ACCESS_KEY": "demo-access-key",
        "SPEECHKIT_EMULATOR_S3_SECRET_KEY": "demo-secret",
    }
    print(f"demo: working in {work}")
    s3, s3_endpoint = _start_s3()
    emulator: subprocess.Popen[str] | None = None
    try:
        _create_bucket(s3_endpoint, env["S3_ACCESS_KEY_ID"], env["S3_SECRET_ACCESS_KEY"])
        print(f"demo: local S3 server at {s3_endpoint}, bucket {DEMO_BUCKET}")
        emulator, url = _start_emulator(s3_endpoint, env, work / "emulator.log")
        print(f"demo: SpeechKit emulator at {url} (x{DEMO_SPEED:g} speed, synthetic text)")
        config = _write_config(work, url, s3_endpoint, args.manifest)
        if _orchestrator("submit", "--config", str(config), str(args.manifest), env=env):
            return 2
        print("demo: running the daemon until every job has ended\n")
        status = _orchestrator(
            "run", "--config", str(config), "--until-idle", "--settle-seconds", "0", env=env
        )
        print()
        _orchestrator("status", "--config", str(config), env=env)
        results = work / "results"
        reports = sorted(results.glob("*/report.txt"))
        for report in reports:
            print(f"\n{report}:\n{report.read_text('utf-8')}")
        files = sorted(p for p in results.rglob("*") if p.is_file())
        print(f"demo: {len(files)} files under {results}:")
        for path in files:
            print(f"  {path.relative_to(work)}")
        stats = _stats(url)
        print("\ndemo: the emulator's counters, by API:")
        for api, requests in sorted(stats.get("requests_by_api", {}).items()):
            if api != "none":
                print(f"  {api}: {json.dumps(requests)}")
        return status
    finally:
        if emulator is not None:
            emulator.send_signal(signal.SIGINT)
            try:
                emulator.wait(timeout=10)
            except subprocess.TimeoutExpired:
                emulator.kill()
        s3.stop()
