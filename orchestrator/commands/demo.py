"""``demo``: the whole pipeline on a laptop: a local S3 server, the emulator, the daemon.

Everything it starts it stops; everything it writes goes under one directory
(``demo-output/`` by default), which it clears first so the demo can be run again.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from orchestrator.commands.local import (
    EXAMPLES,
    LOCAL_SPEED,
    Credentials,
    create_bucket,
    local_config,
    start_emulator,
    start_s3,
    stop_emulator,
    write_config,
)

DEMO_MANIFEST = EXAMPLES / "manifests" / "demo.yaml"
DEMO_BUCKET = "speechkit-demo"


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


def _write_config(work: Path, emulator_url: str, s3_endpoint: str, manifest: Path) -> Path:
    secrets = {
        "api_key_env": "SPEECHKIT_API_KEY",
        "access_key_id_env": "S3_ACCESS_KEY_ID",
        "secret_access_key_env": "S3_SECRET_ACCESS_KEY",
    }
    # The sample audio, and the tree of the manifest being run.
    roots = sorted({str(EXAMPLES), str(manifest.resolve().parent)})
    config = local_config(emulator_url, s3_endpoint, DEMO_BUCKET, secrets, roots)
    return write_config(work / "config.yaml", config)


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
    credentials = Credentials(api_key, "demo-access-key", "demo-secret")
    env = {
        **os.environ,
        "SPEECHKIT_API_KEY": api_key,
        "S3_ACCESS_KEY_ID": credentials.s3_access_key,
        "S3_SECRET_ACCESS_KEY": secrets.token_urlsafe(16),
        **credentials.emulator_env(),
    }
    print(f"demo: working in {work}")
    s3, s3_endpoint = start_s3("the demo")
    emulator: subprocess.Popen[str] | None = None
    try:
        create_bucket(s3_endpoint, DEMO_BUCKET, credentials)
        print(f"demo: local S3 server at {s3_endpoint}, bucket {DEMO_BUCKET}")
        emulator, url = start_emulator(s3_endpoint, env, work / "emulator.log")
        print(f"demo: SpeechKit emulator at {url} (x{LOCAL_SPEED:g} speed, synthetic text)")
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
            stop_emulator(emulator)
        s3.stop()
