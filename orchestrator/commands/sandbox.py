"""``sandbox``: a local S3 server and the emulator, ready for the daemon, until Ctrl-C.

Where ``demo`` runs one batch and stops, ``sandbox`` leaves the two services running and
writes a config pointing at both, so the user runs ``validate``, ``submit``, ``run`` and
``status`` by hand, as against the real service.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import signal
import subprocess
import threading
from pathlib import Path
from types import FrameType

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

SANDBOX_BUCKET = "speechkit-sandbox"
# The secrets, one file each, mode 0600, beside the config that names them.
SECRET_FILES = {
    "api_key_file": "secrets/speechkit-api-key",
    "access_key_id_file": "secrets/s3-access-key-id",
    "secret_access_key_file": "secrets/s3-secret-access-key",
}
READY = "sandbox: ready"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``sandbox`` subcommand."""
    parser = sub.add_parser(
        "sandbox",
        help="start a local S3 server and the emulator, write a config for them, "
        "and keep them running until Ctrl-C",
        description="Start moto's S3 server (the `demo` extra) and the SpeechKit emulator on "
        "free loopback ports, make the bucket, give the emulator the S3 credentials, write "
        "DIR/config.yaml pointing at both, print the commands to run next, and stop both on "
        "Ctrl-C or SIGTERM (exit 0).",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path("sandbox"),
        help="where the config, its secrets and the daemon's folders go (default ./sandbox; "
        "the state and results of an earlier sandbox there are kept)",
    )
    parser.set_defaults(handler=run)


def _write_secrets(work: Path, credentials: Credentials) -> None:
    values = {
        "api_key_file": credentials.api_key,
        "access_key_id_file": credentials.s3_access_key,
        "secret_access_key_file": credentials.s3_secret_key,
    }
    for key, relative in SECRET_FILES.items():
        path = work / relative
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(values[key] + "\n")


def next_steps(config: Path) -> list[str]:
    """The commands to run against the sandbox, as the walkthrough gives them."""
    where = shlex.quote(str(config))
    # The demo's manifest in a checkout (here, else beside the code); installed without
    # the examples, a placeholder.
    here = Path("examples", "manifests", "demo.yaml")
    packaged = EXAMPLES / "manifests" / "demo.yaml"
    manifest = here if here.exists() else packaged if packaged.exists() else Path("MANIFEST.yaml")
    shown = shlex.quote(str(manifest))
    return [
        f"speechkit-orchestrator validate --config {where} {shown}",
        f"speechkit-orchestrator submit --config {where} {shown}",
        f"speechkit-orchestrator run --config {where} --until-idle",
        f"speechkit-orchestrator status --config {where}",
    ]


class _Signals:
    """SIGINT and SIGTERM caught from the start, so that neither can leave the emulator
    running: the first ends the waiting, and the services are stopped in order."""

    def __init__(self) -> None:
        self.received = threading.Event()
        self._previous = {s: signal.signal(s, self._on_signal) for s in STOP_SIGNALS}

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self.received.set()

    def wait(self) -> None:
        """Block until a stop signal has come (at once if one came already)."""
        while not self.received.wait(1.0):
            pass

    def restore(self) -> None:
        """Put the previous handlers back."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def run(args: argparse.Namespace) -> int:
    """Start the services, write the config, print what to run next; stop on a signal."""
    signals = _Signals()
    try:
        return _serve(args.dir, signals)
    finally:
        signals.restore()


def _serve(work: Path, signals: _Signals) -> int:
    work.mkdir(parents=True, exist_ok=True)
    # The user's moto and emulator: any key does, but a fresh one is never one to guard.
    credentials = Credentials(
        secrets.token_urlsafe(16), "sandbox-access-key", secrets.token_urlsafe(16)
    )
    _write_secrets(work, credentials)
    env = {**os.environ, **credentials.emulator_env()}
    s3, s3_endpoint = start_s3("sandbox")
    emulator: subprocess.Popen[str] | None = None
    try:
        create_bucket(s3_endpoint, SANDBOX_BUCKET, credentials)
        print(f"sandbox: local S3 server at {s3_endpoint}, bucket {SANDBOX_BUCKET}", flush=True)
        emulator, url = start_emulator(s3_endpoint, env, work / "emulator.log")
        print(f"sandbox: SpeechKit emulator at {url} (x{LOCAL_SPEED:g} speed, synthetic text)")
        # Audio may come from the directory the sandbox was started in, and the examples.
        roots = sorted({str(Path.cwd().resolve()), str(EXAMPLES)})
        config = local_config(url, s3_endpoint, SANDBOX_BUCKET, SECRET_FILES, roots)
        path = write_config(work / "config.yaml", config)
        print(f"sandbox: config written to {path} (input roots: {', '.join(roots)})")
        print(f"{READY}. In another terminal, run for example:")
        for line in next_steps(path):
            print(f"  {line}")
        print("Ctrl-C stops the S3 server and the emulator (the bucket's objects go with them).")
        print("", flush=True)
        signals.wait()
        return 0
    finally:
        if emulator is not None:
            stop_emulator(emulator)
        s3.stop()
        print("sandbox: stopped", flush=True)
