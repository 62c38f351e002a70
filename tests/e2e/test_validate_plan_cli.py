from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DEMO = "examples/manifests/demo.yaml"
BROKEN = "examples/manifests/broken/broken.yaml"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_validate_good_manifests() -> None:
    examples = sorted(
        str(p.relative_to(ROOT)) for p in (ROOT / "examples/manifests").glob("*.yaml")
    )
    result = cli("validate", *examples)
    assert result.returncode == 0, result.stderr
    assert f"ok: {DEMO}: demo: 6 jobs" in result.stdout.splitlines()
    assert result.stdout.count("ok: ") == len(examples)
    assert result.stderr == ""


def test_validate_reports_every_problem_with_file_and_line() -> None:
    result = cli("validate", DEMO, BROKEN)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) >= 8
    pattern = re.compile(rf"^error: {re.escape(BROKEN)}:\d+: \S+: .+")
    assert all(pattern.match(line) for line in errors), errors
    text = "\n".join(errors)
    assert f"{BROKEN}:6: defaults.langauge: unknown key; did you mean 'language'?" in text
    assert "missing-file.ogg" in text
    assert "matches no file" in text
    assert "produced twice" in text
    assert "ok: examples/manifests/demo.yaml" in result.stdout


def test_validate_json() -> None:
    result = cli("validate", "--json", DEMO, BROKEN)
    assert result.returncode == 2
    document = json.loads(result.stdout)
    assert document["valid"] is False
    demo, broken = document["manifests"]
    assert (demo["valid"], demo["jobs"], demo["problems"]) == (True, 6, [])
    assert broken["valid"] is False
    assert all(p["file"] == BROKEN and p["line"] for p in broken["problems"])


def test_validate_missing_manifest() -> None:
    result = cli("validate", "no/such/manifest.yaml")
    assert result.returncode == 2
    assert "error: no/such/manifest.yaml: file not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_plan_prints_totals() -> None:
    examples = sorted(
        str(p.relative_to(ROOT)) for p in (ROOT / "examples/manifests").glob("*.yaml")
    )
    result = cli("plan", *examples)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "MANIFEST",
        "FILES",
        "AUDIO",
        "H",
        "BILLABLE",
        "S",
        "BILLABLE",
        "H",
        "FINISH",
    ]
    total = next(line for line in lines if line.startswith("TOTAL"))
    assert total.split()[1] == "13"
    # The whole quota by default: no share kept unused, the window lengthened by the margin.
    assert any(line.startswith("quotas: 500 submissions") for line in lines)
    assert any("per 3630 s" in line for line in lines)
    # What makes up the finish, by each quota the jobs' APIs spend, named as on the page.
    assert any(line.startswith("finish = max(submit 0s, status 0s, status_v3 0s") for line in lines)
    assert "asr_xml: 0s at 20 requests per 1.25 s" in lines


def test_plan_json_follows_the_configured_quotas(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "speechkit:\n  api_key_env: SURELY_UNSET_VARIABLE_FOR_PLAN\n"
        "storage:\n  bucket: audio\n"
        "quotas:\n  submissions: 2\n  status_checks: 2\n  window_s: 60\n  safety_margin: 0\n"
        "  window_margin_s: 0\n",
        encoding="utf-8",
    )
    # The demo's audio is outside the config's directory, the default input root.
    refused = cli("plan", "--json", "--config", str(config), DEMO)
    assert refused.returncode == 2
    assert all(
        "outside the input roots" in p["message"] for p in json.loads(refused.stdout)["problems"]
    )
    with config.open("a", encoding="utf-8") as more:
        more.write(f"paths:\n  input_roots: [{ROOT / 'examples' / 'audio'}]\n")
    result = cli("plan", "--json", "--config", str(config), DEMO)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    total = document["total"]
    assert total["files"] == 6
    assert total["probed_files"] == 6
    # The demo has a job of each API; each counts against the quotas its API spends.
    assert total["jobs_by_api"] == {"v2": 4, "v3": 1, "asr_xml": 1}
    # Five 15 s-minimum-or-longer files of asynchronous recognition (stereo: one pair each).
    assert total["billable_s"] >= 5 * 15
    assert total["billable_hours"] == pytest.approx(total["billable_s"] / 3600)
    assert total["submit_wait_s"] == (3 - 1) * 60  # 5 v2 and v3 jobs, 2 per window
    assert total["status_wait_s"] == (3 - 1) * 60  # 6 v2 checks, 2 per window
    assert total["v3_status_wait_s"] == 0  # 3 v3 checks: within one second's 5
    assert total["daily_wait_s"] == 0
    assert total["finish_s"] == pytest.approx(120 + total["longest_processing_s"])
    assert total["longest_processing_s"] > 0
    assert document["manifests"][0]["name"] == "demo"
    assert document["problems"] == []
    # The daemon lengthens each window by its margin; plan counts the same way.
    text = config.read_text("utf-8").replace("window_margin_s: 0", "window_margin_s: 6")
    config.write_text(text, encoding="utf-8")
    again = json.loads(cli("plan", "--json", "--config", str(config), DEMO).stdout)["total"]
    assert again["submit_wait_s"] == pytest.approx((3 - 1) * 66)


def test_plan_counts_each_apis_quota(tmp_path: Path) -> None:
    audio = ROOT / "examples" / "audio" / "greeting-mono.ogg"
    jobs = "".join(f"  - audio: {audio}\n    output: o{i}\n" for i in range(40))
    config = tmp_path / "config.yaml"
    config.write_text(
        "storage:\n  bucket: audio\n"
        f"paths:\n  input_roots: [{audio.parent}]\n"
        "quotas:\n  v3_status_checks_per_second: 5\n  asr_xml_requests_per_second: 4\n"
        "  safety_margin: 0\n"
        "concurrency:\n  asr_xml_requests: 2\n",
        encoding="utf-8",
    )
    figures = {}
    for api in ("v2", "v3", "asr_xml"):
        manifest = tmp_path / f"{api}.yaml"
        manifest.write_text(f"name: {api}\ndefaults:\n  api: {api}\njobs:\n{jobs}", "utf-8")
        result = cli("plan", "--json", "--config", str(config), str(manifest))
        assert result.returncode == 0, result.stderr
        figures[api] = json.loads(result.stdout)["total"]
    # 40 jobs fit in an hour's 500 submissions and 2,500 v2 checks: no waiting.
    assert (figures["v2"]["submit_wait_s"], figures["v2"]["status_wait_s"]) == (0, 0)
    # v3: 2.5 checks a job (1.5 of the operation, 1 getRecognition) at 5 per 1.25 s window.
    assert figures["v3"]["v3_status_wait_s"] == pytest.approx((20 - 1) * 1.25)
    assert figures["v3"]["status_wait_s"] == 0
    # asr_xml: no submission quota, no billing of asynchronous recognition; 4 a second.
    assert figures["asr_xml"]["submit_wait_s"] == 0
    assert figures["asr_xml"]["billable_s"] == 0
    processing = 40 * 5.895 / 6 / 2  # 10 s per audio minute, two at a time
    assert figures["asr_xml"]["asr_xml_wait_s"] == pytest.approx(
        max(9 * 1.25, processing), rel=0.01
    )
    assert figures["asr_xml"]["finish_s"] == figures["asr_xml"]["asr_xml_wait_s"]


def test_plan_reports_problems_and_exits_2() -> None:
    result = cli("plan", DEMO, BROKEN)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"error: {BROKEN}:" in result.stderr
    assert any(line.startswith("TOTAL") for line in result.stdout.splitlines())


def test_plan_of_what_is_not_a_manifest_prints_only_its_error(tmp_path: Path) -> None:
    result = cli("plan", str(tmp_path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == f"error: {tmp_path}: is a directory, not a YAML file\n"
    mixed = cli("plan", DEMO, str(tmp_path))
    assert mixed.returncode == 2
    assert str(tmp_path) not in mixed.stdout
    assert any(line.startswith("demo (") for line in mixed.stdout.splitlines())


def test_plan_with_a_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("storage:\n  bucket: audio\nquotas:\n  submissions: -1\n", encoding="utf-8")
    result = cli("plan", "--config", str(config), DEMO)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"error: {config}:4: quotas.submissions: must be at least 1, got -1" in result.stderr


def test_validate_with_a_config_refuses_audio_from_another_bucket(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("storage:\n  bucket: audio\n  source_buckets: [shared/calls]\n")
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "name: m\njobs:\n  - s3://audio/a.ogg\n  - s3://shared/calls/b.ogg\n"
        "  - s3://other-tenant/private/ceo-call.ogg\n"
    )
    result = cli("validate", "--config", str(config), str(manifest))
    assert result.returncode == 2
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert error.startswith(f"error: {manifest}:5: jobs[2].audio: s3://other-tenant/private/")
    assert "storage.source_buckets" in error
    assert cli("validate", str(manifest)).returncode == 0  # no config: no bucket known
