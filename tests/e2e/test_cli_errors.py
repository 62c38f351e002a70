"""Bad configuration and bad arguments: one line per problem, exit 2, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("command", ["run", "status", "submit", "retry", "cancel"])
def test_every_problem_of_a_bad_config(tmp_path: Path, command: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("storage:\n  buckt: x\nquotas:\n  submissions: -1\n", "utf-8")
    extra = {"submit": ["m.yaml"], "retry": ["m"], "cancel": ["m"]}.get(command, [])
    result = cli(command, "--config", str(config), *extra)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert f"{config}:2: storage.buckt: unknown key; did you mean 'bucket'?" in "\n".join(lines)
    assert any(":4: quotas.submissions:" in line for line in lines)
    assert all(line.startswith("error: ") for line in lines)
    assert "Traceback" not in result.stderr


def test_missing_config_file(tmp_path: Path) -> None:
    result = cli("run", "--config", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'nope.yaml'}: file not found"


def test_secret_inline_is_refused_without_echoing_it(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "speechkit:\n  api_key: AQVNsuper-secret-value\nstorage:\n  bucket: demo\n", "utf-8"
    )
    result = cli("run", "--config", str(config))
    assert result.returncode == 2
    assert "speechkit.api_key" in result.stderr
    assert "AQVNsuper-secret-value" not in result.stderr + result.stdout


def test_validate_says_which_apis_this_daemon_cannot_handle_yet(tmp_path: Path) -> None:
    audio = Path(__file__).resolve().parents[2] / "examples" / "audio"
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        f"name: m\nbase_dir: {audio}\njobs:\n  - greeting-mono.ogg\n"
        "  - audio: podcast-mono.mp3\n    api: v3\n",
        "utf-8",
    )
    result = cli("validate", str(manifest))
    assert result.returncode == 2
    assert f"{manifest}:5: api: api 'v3' is not handled by this version" in result.stderr


def test_a_secret_too_short_is_refused_and_one_others_may_read_is_warned_of(
    tmp_path: Path,
) -> None:
    key = tmp_path / "api-key"
    key.write_text("abc\n", "utf-8")
    key.chmod(0o600)
    config = tmp_path / "config.yaml"
    config.write_text(
        f"speechkit:\n  api_key_file: {key}\nstorage:\n  bucket: demo\n"
        "status:\n  listen_port: null\nlogging:\n  format: json\n",
        "utf-8",
    )
    result = cli("run", "--config", str(config), "--until-idle")
    assert result.returncode == 2
    assert f"{config}:2: speechkit.api_key_file: the secret from file {key} is too short" in (
        result.stderr
    )
    key.write_text("a-key-long-enough-to-mask\n", "utf-8")
    key.chmod(0o644)
    result = cli("run", "--config", str(config), "--until-idle")
    assert result.returncode == 0, result.stderr
    (warning,) = [e for e in map(json.loads, result.stdout.splitlines()) if "warning" in e]
    assert warning["event"] == "config.warning"
    assert "readable by other users (mode 0644)" in warning["warning"]
    assert "a-key-long-enough-to-mask" not in result.stdout + result.stderr
