"""Writing files: names the filesystem takes, a full disk said plainly and cleaned up after,
and the temporary files of a killed writer swept."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from orchestrator.outputs.files import (
    NAME_MAX,
    fit_name,
    is_temp_file,
    remove_temp_files,
    unique_destination,
    write_atomic,
    write_error,
)


def test_names_are_shortened_only_when_they_must_be() -> None:
    assert fit_name("calls.yaml", 20) == "calls.yaml"
    long = "é" * 200 + ".yaml"  # 405 bytes
    short = fit_name(long, 13)
    assert len(os.fsencode(short)) <= NAME_MAX - 13
    assert short.endswith(".yaml")
    assert short.startswith("éé")


def test_unique_destination_and_temporary_names_fit(tmp_path: Path) -> None:
    name = "x" * 250 + ".yaml"
    (tmp_path / fit_name(name, 8)).write_text("taken", "utf-8")
    target = unique_destination(tmp_path, name)
    assert target.name.endswith(".1.yaml")
    write_atomic(target, "data")  # its temporary name fits too
    assert target.read_text("utf-8") == "data"


def test_only_our_temporary_files_are_swept(tmp_path: Path) -> None:
    ours = [tmp_path / "a" / ".x.json.k2j4h5g6.tmp", tmp_path / ".r.txt.abcdefgh.tmp"]
    theirs = [tmp_path / ".batch.yaml", tmp_path / "notes.tmp", tmp_path / ".x.json.short.tmp"]
    for path in ours + theirs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("", "utf-8")
    assert [is_temp_file(p.name) for p in ours + theirs] == [True, True, False, False, False]
    # Only the young: nothing older than an hour ago.
    assert remove_temp_files(tmp_path, recursive=True, older_than=time.time() - 3600) == []
    assert remove_temp_files(tmp_path, recursive=False) == [ours[1]]
    assert remove_temp_files(tmp_path, recursive=True) == [ours[0]]
    assert all(p.exists() for p in theirs)


def test_write_errors_say_what_to_do_about_them() -> None:
    full = OSError(errno.ENOSPC, "No space left on device", "/out/m/.a.json.k2j4h5g6.tmp")
    assert write_error(full) == "no space left on the device: /out/m"
    denied = PermissionError(errno.EACCES, "Permission denied", "/out/m/a.json")
    assert write_error(denied).startswith("permission denied (the directory is not writable")


LIMITED_WRITER = """
import json, resource, sys
from pathlib import Path
from orchestrator.core.transcript import Transcript, Utterance, Word
from orchestrator.outputs.files import write_error
from orchestrator.outputs.write import write_job_outputs

root, limit, count = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
words = tuple(Word(f"w{i}", i * 0.5, i * 0.5 + 0.4) for i in range(count))
text = " ".join(word.text for word in words)
transcript = Transcript(channels=(1,), utterances=(Utterance(1, text, 0.0, count * 0.5, words),))
if limit:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
record = {"manifest": "m", "operation_id": f"op-{count}", "settings": {}}
try:
    write_job_outputs(root, "m", "call", transcript, (1,), record)
except OSError as exc:
    print(json.dumps({"errno": exc.errno, "reason": write_error(exc)}))
else:
    print(json.dumps({"errno": None}))
"""


def write_limited(root: Path, limit: int, words: int) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", LIMITED_WRITER, str(root), str(limit), str(words)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_a_full_disk_fails_the_write_cleanly_and_says_so(tmp_path: Path) -> None:
    # RLIMIT_FSIZE makes the kernel refuse to grow a file past the limit (EFBIG), as a full
    # filesystem refuses with ENOSPC: a real failed write, even as root.
    assert write_limited(tmp_path, 0, 10) == {"errno": None}
    before = {p.name: p.read_bytes() for p in (tmp_path / "m").iterdir()}
    result = write_limited(tmp_path, 64 * 1024, 20_000)
    assert result["errno"] == errno.EFBIG
    assert str(result["reason"]).startswith("the file is larger than the filesystem")
    # ... and where: the file that could not be written (the write's own error names none).
    where = str(result["reason"]).rsplit(": ", 1)[1]
    assert Path(where).parent == tmp_path / "m"
    assert Path(where).name.startswith("call.")
    # The old set is untouched and no temporary file is left beside it.
    assert {p.name: p.read_bytes() for p in (tmp_path / "m").iterdir()} == before


WRITER = """
import sys
from pathlib import Path
from orchestrator.outputs.files import write_atomic
target = Path(sys.argv[1])
versions = ["A" * 4_000_000 + "\\n", "B" * 4_000_000 + "\\n"]
i = 0
while True:
    write_atomic(target, versions[i % 2])
    i += 1
    if i == 3:
        Path(sys.argv[2]).write_text("started")
"""
VERSIONS = ("A" * 4_000_000 + "\n", "B" * 4_000_000 + "\n")


def kill_writer_mid_write(target: Path, marker: Path) -> None:
    """Rewrite ``target`` with ``VERSIONS`` in turn in a child process, and SIGKILL it once
    it is in the middle of rewriting."""
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target), str(marker)])
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert proc.poll() is None, "writer died"
            assert time.monotonic() < deadline, "writer never started"
            time.sleep(0.01)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def test_write_atomic_survives_kill_9(tmp_path: Path) -> None:
    target = tmp_path / "result.txt"
    target.write_text(VERSIONS[0], "utf-8")
    kill_writer_mid_write(target, tmp_path / "marker")
    assert target.read_text("utf-8") in VERSIONS


def test_a_writer_killed_mid_write_leaves_nothing_the_sweep_misses(tmp_path: Path) -> None:
    target = tmp_path / "result.txt"
    kill_writer_mid_write(target, tmp_path / "marker")
    remove_temp_files(tmp_path, recursive=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["marker", "result.txt"]
    assert target.read_text("utf-8")[0] in "AB"


def test_write_atomic_honours_the_umask(tmp_path: Path) -> None:
    # Under systemd's UMask=0077 the results are the daemon's alone; a file already there
    # keeps its mode.
    old = os.umask(0o077)
    try:
        write_atomic(tmp_path / "new.txt", "x")
        kept = tmp_path / "kept.txt"
        kept.write_text("old")
        kept.chmod(0o640)
        write_atomic(kept, "new")
    finally:
        os.umask(old)
    assert (tmp_path / "new.txt").stat().st_mode & 0o777 == 0o600
    assert kept.stat().st_mode & 0o777 == 0o640
    os.umask(0o022)
    try:
        write_atomic(tmp_path / "shared.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "shared.txt").stat().st_mode & 0o777 == 0o644
