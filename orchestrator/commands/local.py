"""The local stand-ins for the cloud that ``demo`` and ``sandbox`` share: moto's S3 server
with a bucket, the SpeechKit emulator reading from it, and a daemon config pointing at both.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# The emulator runs this many times faster than the real service; the daemon's first
# guess at processing time is scaled to match (it learns the real pace anyway).
LOCAL_SPEED = 20.0
S3_REGION = "ru-central1"


@dataclass(frozen=True)
class Credentials:
    """What the emulator and the daemon present: the API key and the S3 key pair."""

    api_key: str
    s3_access_key: str
    s3_secret_key: str

    def emulator_env(self) -> dict[str, str]:
        """The emulator's environment variables for these credentials."""
        return {
            "SPEECHKIT_EMULATOR_API_KEY": self.api_key,
            "SPEECHKIT_EMULATOR_S3_ACCESS_KEY": self.s3_access_key,
            "SPEECHKIT_EMULATOR_S3_SECRET_KEY": self.s3_secret_key,
        }


def start_s3(command: str) -> tuple[Any, str]:
    """moto's S3 server on a free loopback port: the server and its endpoint URL."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        print(
            f"error: {command} needs a local S3 server: pip install 'speechkit-orchestrator[demo]'",
            file=sys.stderr,
        )
        raise SystemExit(1) from None
    # Its per-request access log would drown the daemon's progress lines.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def create_bucket(endpoint: str, bucket: str, credentials: Credentials) -> None:
    """Make ``bucket`` on the S3 server at ``endpoint``."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=credentials.s3_access_key,
        aws_secret_access_key=credentials.s3_secret_key,
        region_name=S3_REGION,
    )
    client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": S3_REGION})


def start_emulator(
    s3_endpoint: str, env: dict[str, str], log_path: Path
) -> tuple[subprocess.Popen[str], str]:
    """The emulator on a free loopback port, reading audio from ``s3_endpoint``; the
    process and its URL. Its output goes to ``log_path``."""
    command = [
        *(sys.executable, "-m", "orchestrator", "emulator", "--host", "127.0.0.1"),
        *("--port", "0", "--s3-endpoint", s3_endpoint, "--speed", str(LOCAL_SPEED)),
    ]
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
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
    process.wait()
    raise RuntimeError(f"the emulator did not start; see {log_path}")


def stop_emulator(process: subprocess.Popen[str]) -> None:
    """Stop the emulator as Ctrl-C would, killing it if it does not go in 10 s."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _drain(process: subprocess.Popen[str], log_path: Path) -> None:
    def copy() -> None:
        assert process.stdout is not None
        with log_path.open("a", encoding="utf-8") as log:
            for line in process.stdout:
                log.write(line)

    threading.Thread(target=copy, daemon=True).start()


def local_config(
    emulator_url: str,
    s3_endpoint: str,
    bucket: str,
    secrets: dict[str, str],
    input_roots: list[str],
) -> dict[str, Any]:
    """A daemon config for the emulator and the S3 server, scaled to ``LOCAL_SPEED``.

    ``secrets`` are the secret keys to set (``api_key_env`` or ``api_key_file``, say), as
    the caller hands them over; paths are relative to the config's directory.
    """
    speechkit_secrets = {k: v for k, v in secrets.items() if k.startswith("api_key")}
    storage_secrets = {k: v for k, v in secrets.items() if not k.startswith("api_key")}
    return {
        "speechkit": {
            "transcribe_url": emulator_url,
            "operation_url": emulator_url,
            "stt_v3_url": emulator_url,
            "asr_xml_url": emulator_url,
            **speechkit_secrets,
            "request_timeout_s": 10.0,
        },
        "storage": {
            "bucket": bucket,
            "endpoint_url": s3_endpoint,
            **storage_secrets,
            "delete_after_done": True,
        },
        "paths": {
            "state_file": "state/orchestrator.sqlite3",
            "inbox": "inbox",
            "processed": "processed",
            "failed": "failed",
            "output": "results",
            "input_roots": input_roots,
        },
        "polling": {
            "initial_ratio": 10.0 / 60.0 / LOCAL_SPEED,
            "min_interval_s": 0.2,
            # The emulator's timestamps are whole seconds of its sped-up clock.
            "timestamp_resolution_s": 1.0 / LOCAL_SPEED,
        },
        "retry": {"base_delay_s": 0.5, "max_delay_s": 5.0},
        "logging": {"format": "console", "level": "info"},
        "status": {"listen_port": 0},
        "service": {"drain_timeout_s": 10.0},
    }


def write_config(path: Path, config: dict[str, Any]) -> Path:
    """Write ``config`` as YAML to ``path``; the path."""
    path.write_text(yaml.safe_dump(config, sort_keys=False), "utf-8")
    return path
