"""The systemd unit: systemd's own verifier and security analyser, plus the settings we rely on."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "speechkit-orchestrator.service"
INSTALLED_BINARY = "/opt/speechkit-orchestrator/venv/bin/speechkit-orchestrator"
MAX_EXPOSURE = 2.0
# orchestrator's default service.drain_timeout_s: the stop timeout must outlast a drain.
DRAIN_TIMEOUT_S = 30.0

needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


def _analyze(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SYSTEMD_COLORS": "0", "SYSTEMD_PAGER": "", "LC_ALL": "C.UTF-8"}
    return subprocess.run(
        ["systemd-analyze", *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def _settings(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment, repeated keys kept in order."""
    section = ""
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def _values(key: str) -> list[str]:
    return [v for s, k, v in _settings(UNIT.read_text()) if s == "Service" and k == key]


def _seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|sec|min)?", value)
    assert match, value
    return float(match[1]) * (60 if match[2] == "min" else 1)


@needs_systemd_analyze
def test_unit_verifies_cleanly(tmp_path: Path) -> None:
    # The installed binary does not exist on a build machine and verify checks that
    # ExecStart is executable: point it at a real executable, keeping everything else.
    binary = tmp_path / "speechkit-orchestrator"
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o755)
    text = UNIT.read_text()
    rewritten = text.replace(f"ExecStart={INSTALLED_BINARY} ", f"ExecStart={binary} ")
    assert rewritten.count(f"ExecStart={binary} run --config ") == 1
    assert rewritten.replace(str(binary), INSTALLED_BINARY) == text
    copy = tmp_path / UNIT.name
    copy.write_text(rewritten)

    result = _analyze("verify", "--man=no", str(copy))

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@needs_systemd_analyze
def test_unit_security_exposure_is_low() -> None:
    result = _analyze("security", "--offline=true", str(UNIT))

    assert result.returncode == 0, result.stderr
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", result.stdout)
    assert match, result.stdout
    assert float(match[1]) <= MAX_EXPOSURE, result.stdout


def test_unit_settings_the_daemon_relies_on() -> None:
    assert _values("Type")[0] in {"notify", "notify-reload"}
    if _values("Type")[0] == "notify":
        assert _values("ExecReload") == ["/bin/kill -HUP $MAINPID"]
    assert _values("NotifyAccess") == ["main"]
    assert _seconds(_values("WatchdogSec")[0]) > 0
    assert _seconds(_values("TimeoutStopSec")[0]) > DRAIN_TIMEOUT_S
    assert _values("ExecStart") == [
        f"{INSTALLED_BINARY} run --config /etc/speechkit-orchestrator/config.yaml"
    ]
    credentials = dict(v.split(":", 1) for v in _values("LoadCredential"))
    assert set(credentials) == {"speechkit-api-key", "s3-access-key-id", "s3-secret-access-key"}
    assert all(path.startswith("/etc/speechkit-orchestrator/") for path in credentials.values())
    assert _values("StateDirectory") == ["speechkit-orchestrator"]
    # The metadata service's tokens only for a config that takes them (a drop-in allows it).
    assert _values("IPAddressDeny") == ["169.254.169.254"]
    assert _values("DynamicUser") == ["yes"]
    # Operators submit through the spool their group shares with the daemon.
    assert _values("SupplementaryGroups") == ["speechkit-operators"]
    assert _values("ReadWritePaths") == ["/var/spool/speechkit-orchestrator"]


def test_the_operators_guide_lays_out_what_the_unit_allows() -> None:
    # The configured paths, the spool the install creates and the unit's writable places
    # must agree, or submit by an operator cannot work under the unit as shipped.
    guide = (UNIT.parents[1] / "docs" / "operations.md").read_text("utf-8")
    install = guide.split("## Install", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    configure = guide.split("## Configure", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    (spool,) = _values("ReadWritePaths")
    (group,) = _values("SupplementaryGroups")
    state = f"/var/lib/{_values('StateDirectory')[0]}/"
    paths = {k.strip(): v.split("#")[0].strip() for k, _, v in
             (line.partition(":") for line in configure.splitlines()) if v.strip()}  # fmt: skip
    for folder in ("inbox", "processed", "failed"):
        assert paths[folder] == f"{spool}/{folder}"
        assert f"{spool}/{folder}" in install
    assert paths["state_file"].startswith(state)
    assert paths["output"].startswith(state)
    assert f"groupadd --system {group}" in install
    assert f"install -d -g {group} -m 2770 {spool}/inbox" in install
    assert f"usermod -aG {group} " in install
