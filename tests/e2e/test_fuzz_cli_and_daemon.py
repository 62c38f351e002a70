"""Fuzzing the real CLI and the real daemon with hostile manifests (a few examples each:
every one costs processes; the in-process fuzzing is in tests/unit/test_fuzz_input.py).

Properties: `validate` and `plan` print one line per problem and exit 0 or 2, never a
traceback; the daemon takes or rejects every manifest and still serves a good one beside
them; it reads nothing outside its input roots (its own files, its Python and the system's
libraries aside) and writes nothing outside its own directories, as an audit hook inside
the process records.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import S3Server
from tests.support import fuzz
from tests.support.daemon import REPO, DaemonEnv, emulated_daemon

pytestmark = pytest.mark.e2e

MARKER = b"QZX-SECRET-MARKER-"
FEW = settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_examples = itertools.count()
# What the libraries read of the system (mimetypes its tables, botocore its config).
SYSTEM_READS = (os.path.expanduser("~/.aws/"), "/dev/null")
SYSTEM_NAMES = ("mime.types",)
FORBIDDEN = ("/etc/passwd", "/etc/shadow", "/proc/self/environ", "/dev/zero", "/dev/urandom")


def python_dirs() -> tuple[str, ...]:
    """Where Python and the installed packages live (read by every import)."""
    paths = {sys.prefix, sys.base_prefix, *sysconfig.get_paths().values(), str(REPO)}
    return tuple(sorted(str(Path(p).resolve()) for p in paths if p))


def lines_ok(stderr: str) -> bool:
    lines = stderr.strip().splitlines()
    return all(
        line.startswith(("error: ", "warning: ")) or line.endswith("manifest(s)") for line in lines
    )


def one_line_each(stdout: str, stderr: str, manifests: int) -> bool:
    """validate's stdout: one ``ok:`` line per valid manifest and nothing else (a name with
    a newline in it would make two), the invalid ones counted on stderr's last line."""
    oks = stdout.splitlines()
    summary = re.search(r"in (\d+) of \d+ manifest\(s\)$", stderr.strip())
    bad = int(summary.group(1)) if summary else 0
    return all(line.startswith("ok: ") for line in oks) and len(oks) + bad == manifests


@FEW
@given(st.lists(fuzz.documents(fuzz.manifests), min_size=3, max_size=6))
def test_validate_and_plan_answer_any_manifest_in_lines(tmp_path: Path, docs: list[bytes]) -> None:
    work = tmp_path / f"ex{next(_examples)}"
    work.mkdir()
    config = work / "config.yaml"
    config.write_text("storage:\n  bucket: audio\n", "utf-8")  # roots: this directory
    files = []
    for index, data in enumerate(docs):
        path = work / f"m{index}.yaml"
        path.write_bytes(data)
        files.append(str(path))
    for command in ("validate", "plan"):
        done = subprocess.run(
            [sys.executable, "-m", "orchestrator", command, "--config", str(config), *files],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=120,
            check=False,
        )
        assert done.returncode in (0, 2), done.stderr
        assert "Traceback" not in done.stderr
        assert lines_ok(done.stderr), done.stderr
        if command == "validate":
            assert one_line_each(done.stdout, done.stderr, len(files)), done.stdout


@FEW
@given(st.lists(fuzz.documents(fuzz.manifests), min_size=4, max_size=8))
async def test_the_daemon_takes_any_manifests_and_keeps_serving(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, docs: list[bytes]
) -> None:
    work = tmp_path / f"ex{next(_examples)}"
    private = work / "private"
    private.mkdir(parents=True)
    (private / "secret.raw").write_bytes(MARKER * 64)
    async with emulated_daemon(work / "daemon", s3_server, s3_bucket) as (_emu, env):
        env.watch_log = work / "files.jsonl"
        audio = env.copy_audio(("greeting-mono.ogg", "voicemail-mono.wav"))
        (audio / "link-out.raw").symlink_to(private / "secret.raw")
        (audio / "calls").mkdir()
        env.inbox.mkdir(parents=True)
        for index, data in enumerate(docs):
            (env.inbox / f"h{index}.yaml").write_bytes(data)
        env.put_manifest("zz-good", [{"audio": "greeting-mono.ogg"}], base_dir=audio)
        before = outside_daemon_dirs(work, env)
        assert await env.run_until_idle(limit_s=120) == 0

    # Served: the good manifest is done, every other one was taken or rejected.
    report = json.loads((env.results / "zz-good" / "report.json").read_text("utf-8"))
    assert report["counts"] == {"done": 1}
    assert not list(env.inbox.glob("*.yaml"))
    for error in ("intake.error", "manifest.error", "job.step_error", "stage.error"):
        assert not env.events(error), error
    assert "Traceback" not in env.output()
    check_files(env, private)
    assert outside_daemon_dirs(work, env) == before


def check_files(env: DaemonEnv, private: Path) -> None:
    """What the daemon's audit hook saw: reads only of its own files, its audio, Python and
    the system's libraries, never of ``private``; writes only in its own directories; and
    nothing of the private file in what it wrote."""
    allowed_reads = (str(env.root.resolve()), *python_dirs(), *SYSTEM_READS)
    writable = tuple(
        str((env.root / d).resolve()) for d in ("state", "inbox", "failed", "processed", "results")
    )
    assert env.watch_log is not None
    events = [json.loads(line) for line in env.watch_log.read_text("utf-8").splitlines()]
    seen = {(os.path.realpath(e["path"]), e["kind"]) for e in events}
    # The hook saw the daemon at work (else the checks below would prove nothing).
    assert (str((env.root / "audio" / "greeting-mono.ogg").resolve()), "read") in seen
    assert any(kind == "write" and path.startswith(str(env.results)) for path, kind in seen)
    for real, kind in seen:
        assert not real.startswith(str(private.resolve())), (real, kind)
        assert real not in FORBIDDEN, (real, kind)
        if kind == "write":
            assert real.startswith(writable) or real == "/dev/null", real
        else:
            assert real.startswith(allowed_reads) or Path(real).name in SYSTEM_NAMES, (real, kind)
    for path in [*(env.root / "failed").rglob("*"), *env.results.rglob("*")]:
        if path.is_file():
            assert MARKER not in path.read_bytes()
    for rejected in env.events("manifest.rejected"):
        assert Path(rejected["moved_to"]).exists()
    assert MARKER.decode() not in env.output()


def outside_daemon_dirs(work: Path, env: DaemonEnv) -> set[tuple[str, int]]:
    """Every file under ``work`` but the daemon's own directories and logs: (path, size)."""
    own = [env.root / d for d in ("state", "inbox", "failed", "processed", "results")]
    found = set()
    for path in work.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        if any(path.is_relative_to(d) for d in own) or path.name.endswith((".log", ".jsonl")):
            continue
        found.add((str(path), path.stat().st_size))
    return found
