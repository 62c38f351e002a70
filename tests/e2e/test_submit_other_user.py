"""``submit`` by another user than the daemon's, as under the shipped systemd unit.

The unit runs the daemon as its own user, in the operators' group, with ``UMask=0077``;
the inbox, ``processed/`` and ``failed/`` belong to that group with the setgid bit
(docs/operations.md, Install). Here the daemon runs as a throwaway uid in a throwaway
operators' gid, an operator as another uid in that gid, and an outsider in neither, each
through ``setpriv`` (so the tests need root, as CI has).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import S3Server
from tests.support.daemon import AUDIO, CliResult, DaemonEnv, emulated_daemon

pytestmark = pytest.mark.e2e

DAEMON, OPERATOR, OUTSIDER = 61001, 61002, 61003
OPERATORS = 61100
FILES = ("greeting-mono.ogg", "voicemail-mono.wav")
# Files and folders others may read: nothing of the batch may be among them.
OTHERS = stat.S_IROTH | stat.S_IWOTH | stat.S_IXOTH


def as_user(uid: int, groups: tuple[int, ...] = ()) -> list[str]:
    """The prefix that runs a command as ``uid`` (its own gid too) in ``groups``."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("running commands as other users needs root and setpriv (util-linux)")
    membership = [f"--groups={','.join(map(str, groups))}"] if groups else ["--clear-groups"]
    return [setpriv, f"--reuid={uid}", f"--regid={uid}", *membership, "--"]


@contextlib.contextmanager
def unit_umask() -> Iterator[None]:
    """The unit's UMask=0077 for the processes started inside (they inherit it)."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


async def run_as(prefix: list[str], *command: str) -> CliResult:
    """Run ``command`` under ``prefix`` to completion."""
    process = await asyncio.create_subprocess_exec(
        *prefix, *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return CliResult(process.returncode, out.decode(), err.decode())


@pytest.fixture
def shared() -> Iterator[Path]:
    """A directory others may enter (pytest's own are root's, mode 0700)."""
    base = Path(tempfile.mkdtemp(prefix="speechkit-shared-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base)


def make_dir(path: Path, uid: int, gid: int, mode: int) -> Path:
    """A directory owned by ``uid``:``gid`` with ``mode`` (setgid included)."""
    path.mkdir(parents=True)
    os.chown(path, uid, gid)
    path.chmod(mode)
    return path


def lay_out(base: Path, env: DaemonEnv, inbox_mode: int = 0o2770) -> None:
    """The unit's layout: the daemon's private state, the shared spool, the audio."""
    state = make_dir(base / "state", DAEMON, DAEMON, 0o750)
    spool = make_dir(base / "spool", 0, 0, 0o755)
    make_dir(spool / "inbox", 0, OPERATORS, inbox_mode)
    for folder in ("processed", "failed"):
        make_dir(spool / folder, 0, OPERATORS, 0o2770)
    audio = make_dir(base / "audio", OPERATOR, OPERATORS, 0o2750)
    for name in FILES:
        shutil.copy(AUDIO / name, audio / name)
        os.chown(audio / name, OPERATOR, OPERATORS)
        (audio / name).chmod(0o640)
    env.update_config(
        paths={
            "state_file": str(state / "orchestrator.sqlite3"),
            "inbox": str(spool / "inbox"),
            "processed": str(spool / "processed"),
            "failed": str(spool / "failed"),
            "output": str(state / "results"),
            "input_roots": [str(audio), str(base / "home")],
        }
    )
    env.config_path.chmod(0o644)  # root's, readable by all, as /etc/speechkit-orchestrator's
    env.root.chmod(0o755)


def manifest_of(base: Path, uid: int, name: str, audio: Path) -> Path:
    """A manifest in ``uid``'s own directory (mode 0700), itself 0600."""
    home = base / "home"
    if not home.exists():
        make_dir(home, 0, 0, 0o755)
    mine = make_dir(home / str(uid), uid, uid, 0o700)
    path = mine / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "base_dir": str(audio), "jobs": list(FILES)}))
    os.chown(path, uid, uid)
    path.chmod(0o600)
    return path


async def test_an_operator_submits_to_a_daemon_running_as_its_own_user(
    shared: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulated_daemon(shared / "etc", s3_server, s3_bucket) as (_emu, env):
        lay_out(shared, env)
        spool = shared / "spool"
        manifest = manifest_of(shared, OPERATOR, "calls", shared / "audio")
        env.wrapper = as_user(DAEMON, (OPERATORS,))
        with unit_umask():
            daemon = await env.start()
        try:
            # The daemon creates its state file, which root's submit --wait would otherwise.
            await env.wait_for_event("daemon.ready")
            env.wrapper = as_user(OPERATOR, (OPERATORS,))
            with unit_umask():  # submit gives the group its read permission all the same
                result = await env.cli("submit", str(manifest))
            assert result.returncode == 0, result.stdout + result.stderr
            await env.wait_for_event("manifest.finished", manifest="calls")
            # --wait reads the state store, which is the daemon's: it says so, and how to
            # watch instead; the manifest is submitted all the same.
            again = manifest.with_name("more.yaml")
            shutil.copy(manifest, again)
            again.write_text(again.read_text().replace("name: calls", "name: more"))
            os.chown(again, OPERATOR, OPERATOR)
            watched = await env.cli("submit", "--wait", str(again))
            await env.wait_for_event("manifest.finished", manifest="more")
        finally:
            await env.stop(daemon)

    assert watched.returncode == 2, watched.stdout + watched.stderr
    state = shared / "state" / "orchestrator.sqlite3"
    assert watched.stderr.splitlines() == [
        f"error: {env.config_path}: state: submitted ({spool / 'inbox' / 'more.yaml'}), but "
        f"cannot watch: the state store is the daemon's alone (Permission denied: {state}); "
        "watch with `sudo speechkit-orchestrator status --watch` or on the status page"
    ]
    report = yaml.safe_load((shared / "state" / "results" / "calls" / "report.json").read_text())
    assert report["counts"] == {"done": 2}
    filed = spool / "processed" / "calls.yaml"
    info = filed.stat()
    # The operator's file, in the operators' group (the setgid inbox's), never others'.
    assert (info.st_uid, info.st_gid) == (OPERATOR, OPERATORS)
    assert stat.S_IMODE(info.st_mode) == 0o640
    spooled = [spool, *spool.rglob("*")]
    assert [p for p in spooled if p != spool and p.stat().st_mode & OTHERS] == []
    results = [shared / "state", *(shared / "state").rglob("*")]
    assert [p for p in results if p.stat().st_mode & OTHERS] == []


async def test_an_outsider_is_told_which_group_lets_them_submit(
    shared: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    async with emulated_daemon(shared / "etc", s3_server, s3_bucket) as (_emu, env):
        lay_out(shared, env)
        audio = make_dir(shared / "outsider-audio", OUTSIDER, OUTSIDER, 0o700)
        for name in FILES:
            shutil.copy(AUDIO / name, audio / name)
            os.chown(audio / name, OUTSIDER, OUTSIDER)
        manifest = manifest_of(shared, OUTSIDER, "mine", audio)
        env.update_config(paths={"input_roots": [str(audio)]})
        env.wrapper = as_user(OUTSIDER)
        result = await env.cli("submit", str(manifest))

    assert result.returncode == 2, result.stdout + result.stderr
    inbox = shared / "spool" / "inbox"
    assert result.stderr.splitlines() == [
        f"error: {manifest}: cannot write to the inbox {inbox} (group {OPERATORS}, mode 2770): "
        f"Permission denied; submitting needs write permission there: be a member of the "
        f"group {OPERATORS} (sudo usermod -aG {OPERATORS} {OUTSIDER}, then log in again), "
        "or ask whoever runs the daemon"
    ]
    assert list(inbox.iterdir()) == []


async def test_a_file_the_daemon_cannot_read_is_refused_saying_what_to_do(
    shared: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    # The inbox lacks the setgid bit: root's manifest keeps root's group, which the
    # daemon is not in, and submit --wait names the fault and its fix.
    async with emulated_daemon(shared / "etc", s3_server, s3_bucket) as (_emu, env):
        lay_out(shared, env, inbox_mode=0o770)
        manifest = manifest_of(shared, 0, "calls", shared / "audio")
        env.wrapper = as_user(DAEMON, (OPERATORS,))
        with unit_umask():
            daemon = await env.start()
        try:
            # The daemon creates its state file, which root's submit --wait would otherwise.
            await env.wait_for_event("daemon.ready")
            env.wrapper = []
            result = await env.cli("submit", "--wait", "--interval", "0.2", str(manifest))
            # An operator placing a file by hand, mode 0600, reads why it was refused.
            env.wrapper = as_user(OPERATOR, (OPERATORS,))
            inbox = shared / "spool" / "inbox"
            hidden = inbox / ".by-hand.yaml"
            hidden.write_text("name: by-hand\njobs: []\n")
            os.chown(hidden, OPERATOR, OPERATORS)
            hidden.chmod(0o600)
            hidden.rename(inbox / "by-hand.yaml")
            report = shared / "spool" / "failed" / "by-hand.yaml.problems.txt"
            await env.wait_for_event("manifest.rejected", count=2)
            seen = await run_as(as_user(OPERATOR, (OPERATORS,)), "cat", str(report))
        finally:
            await env.stop(daemon)

    assert result.returncode == 2, result.stdout + result.stderr
    out = result.stdout
    assert "refused by the daemon" in out
    assert "cannot read: permission denied: the daemon reads manifests through" in out
    assert f"The inbox is {inbox} (group {OPERATORS}, mode 0770)" in out
    assert "It is not: it needs the setgid bit and group write." in out
    assert "SupplementaryGroups=" in out
    assert seen.returncode == 0, seen.stderr
    assert "make the file readable by that group (chgrp GROUP FILE; chmod g+r FILE)" in seen.stdout
    assert stat.S_IMODE(report.stat().st_mode) == 0o640
