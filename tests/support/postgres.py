"""A throwaway PostgreSQL server for tests: ``initdb`` in a temporary directory, started on
a free loopback port with password authentication, stopped and removed at the end.

When the tests run as root (CI does), the server runs as the ``postgres`` user, which
``initdb`` requires. A machine without PostgreSQL fails these tests; it never skips them.

    with PostgresServer.start() as server:
        url = server.create_database()      # postgresql://USER@127.0.0.1:PORT/DB
        server.password                     # for state.password_*
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

USER = "orchestrator"
RUN_AS = "postgres"  # the system user owning the server when the tests run as root


class PostgresMissing(RuntimeError):
    """PostgreSQL's server programs are not installed."""


def bindir() -> Path:
    """Where ``initdb``, ``pg_ctl`` and ``psql`` are (Debian keeps them off the PATH)."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if not versions:
        raise PostgresMissing(
            "PostgreSQL is not installed (no pg_ctl on the PATH or in /usr/lib/postgresql); "
            "install it (Debian: apt-get install postgresql) to run the PostgreSQL tests"
        )
    return Path(versions[-1]).parent


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    """A running server; ``create_database`` gives each test a database of its own."""

    root: Path
    port: int
    password: str
    bin: Path
    owner: str | None  # the system user it runs as (None: the current one)

    @classmethod
    @contextlib.contextmanager
    def start(cls) -> Iterator[PostgresServer]:
        """Create, start, and at the end stop and delete a cluster (one per test process:
        each xdist worker has its own, in its own directory on its own port)."""
        bin_ = bindir()
        owner = RUN_AS if os.geteuid() == 0 else None
        root = Path(tempfile.mkdtemp(prefix="orchestrator-pg-"))
        server = cls(root, free_port(), secrets.token_hex(16), bin_, owner)
        try:
            server._init()
            server._start()
            yield server
        finally:
            with contextlib.suppress(subprocess.CalledProcessError, FileNotFoundError):
                server._ctl("stop", "-m", "immediate", "-w")
            shutil.rmtree(root, ignore_errors=True)

    def _init(self) -> None:
        if self.owner is not None:
            entry = pwd.getpwnam(self.owner)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.root.chmod(0o700)
        pwfile = self.root / "pw"
        pwfile.write_text(self.password, "utf-8")
        if self.owner is not None:
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        self._as_owner(
            str(self.bin / "initdb"),
            "-D",
            str(self.root / "data"),
            "-U",
            USER,
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
            "-E",
            "UTF8",
            "--no-sync",
        )
        pwfile.unlink()

    def _start(self, attempts: int = 3) -> None:
        # The port was free when chosen; another process (a parallel test worker starting
        # its own cluster) may take it before the server binds it: then try another.
        log = str(self.root / "server.log")
        for attempt in range(attempts):
            try:
                self._ctl("start", "-w", "-t", "60", "-l", log, "-o", self._options())
                return
            except subprocess.CalledProcessError:
                if attempt == attempts - 1:
                    raise
                self.port = free_port()

    def _options(self) -> str:
        # Durability is not what these tests check: skip the disk flushes.
        return (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )

    def _ctl(self, *args: str) -> None:
        self._as_owner(str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), *args)

    def _as_owner(self, *command: str) -> None:
        if self.owner is not None:
            command = ("runuser", "-u", self.owner, "--", *command)
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def url(self, database: str = "postgres") -> str:
        """The URL of ``database`` (no password in it: that is ``password``)."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` with psql; its output."""
        done = subprocess.run(
            [
                str(self.bin / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                self.url(database),
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PGPASSWORD": self.password},
        )
        return done.stdout

    def create_database(self) -> str:
        """A new, empty database; its URL."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        self.psql(f"CREATE DATABASE {name}")
        return self.url(name)
