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


def write_wav(path: Path, seconds: float, rate: int = 8000) -> Path:
    """A mono 16-bit WAV of a quiet tone."""
    import math
    import struct
    import wave

    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        samples = (int(3000 * math.sin(i / 7)) for i in range(int(seconds * rate)))
        out.writeframes(b"".join(struct.pack("<h", v) for v in samples))
    return path


def test_validate_names_what_each_api_cannot_take(tmp_path: Path) -> None:
    audio = Path(__file__).resolve().parents[2] / "examples" / "audio"
    long_clip = write_wav(tmp_path / "long.wav", 31.0)
    lines = [
        "name: m",
        f"base_dir: {audio}",
        "defaults:",
        "  literature_text: true",
        "jobs:",
        "  - audio: greeting-mono.ogg",  # 6
        "    speaker_labeling: true",  # 7: a v3 setting on a v2 job
        "  - audio: podcast-mono.mp3",
        "    api: v3",
        "    raw_results: true",  # 10: a v2 setting on a v3 job
        "  - audio: voicemail-mono.wav",
        "    api: asr_xml",  # 12: literature_text (from defaults) on asr_xml
        f"  - audio: {long_clip}",  # 13: too long for asr_xml, and not to be split
        "    api: asr_xml",
        "    literature_text: false",
        "    split: never",
        "  - audio: s3://bucket/x.ogg",  # 17: asr_xml needs the file itself
        "    api: asr_xml",
        "    literature_text: false",
        "  - audio: call-stereo.ogg",  # 20: speaker labeling on stereo
        "    api: v3",
        "    speaker_labeling: true",
        "  - audio: meeting-stereo.mp3",
        "    api: asr_xml",
        "    literature_text: false",
        "    language: de-DE",  # 26: not an asr_xml language
        "  - audio: interview-stereo.wav",
        "    language: [ru-RU, en-US]",  # 28: a list needs v3
    ]
    manifest = tmp_path / "m.yaml"
    manifest.write_text("\n".join(lines) + "\n", "utf-8")
    result = cli("validate", str(manifest))
    assert result.returncode == 2
    err = result.stderr
    assert "Traceback" not in err
    where = f"error: {manifest}"
    assert (
        f"{where}:7: jobs[0].speaker_labeling: speaker_labeling is not available with api v2; "
        "it needs api v3" in err
    )
    assert f"{where}:10: jobs[1].raw_results: raw_results is not available with api v3" in err
    assert (
        f"{where}:12: jobs[2].api: literature_text is not available with api asr_xml; it needs "
        "api v2 or v3 (literature_text comes from defaults: set it on this entry)" in err
    )
    assert f"{where}:13: api: {long_clip}: the audio lasts 31.0 s;" in err
    assert "takes clips of at most 30 s: use api v2 or v3 (asynchronous) for it" in err
    assert f"{where}:17: jobs[4].audio: api asr_xml sends the audio itself" in err
    assert f"{where}:20: speaker_labeling: " in err
    assert "speaker labeling works on mono audio only; this file has 2 channels" in err
    assert f"{where}:26: jobs[6].language: api asr_xml takes one of ru-RU, en-US" in err
    assert f"{where}:28: jobs[7].language: a list of languages needs api v3" in err
    assert "8 problem(s) in 1 of 1 manifest(s)" in err


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


@pytest.mark.parametrize("command", ["status", "retry", "cancel"])
def test_no_config_named_and_none_found_says_how_to_name_one(
    tmp_path: Path, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "absent.yaml"
    monkeypatch.setenv("SPEECHKIT_ORCHESTRATOR_CONFIG", str(missing))
    result = cli(command, *(["m"] if command != "status" else []))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: {missing}: file not found (named by $SPEECHKIT_ORCHESTRATOR_CONFIG); name "
        "the daemon's config with --config FILE or the environment variable "
        "SPEECHKIT_ORCHESTRATOR_CONFIG"
    )


@pytest.mark.skipif(
    Path("/etc/speechkit-orchestrator/config.yaml").exists(), reason="a config is installed"
)
def test_the_default_config_missing_says_how_to_name_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPEECHKIT_ORCHESTRATOR_CONFIG", raising=False)
    result = cli("status")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: /etc/speechkit-orchestrator/config.yaml: file not found (the default); name "
        "the daemon's config with --config FILE or the environment variable "
        "SPEECHKIT_ORCHESTRATOR_CONFIG"
    )
