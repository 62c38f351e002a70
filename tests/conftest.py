"""Shared fixtures: a real S3 server (moto) on a free loopback port, and a throwaway
PostgreSQL server (started only by the tests that need one)."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.support.postgres import PostgresServer

# A shell that starts pytest in the background without job control (a script's `make test &`)
# leaves SIGINT ignored, and an ignored signal stays ignored in every process started
# after: the CLI under test would never see the Ctrl-C the tests send it. A handler, unlike
# SIG_IGN, is reset to the default at exec, so each CLI gets its KeyboardInterrupt back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

S3_ACCESS_KEY = "test-access-key"
S3_SECRET_KEY = "test-secret-key-do-not-log"


@dataclass(frozen=True)
class S3Server:
    """A running S3 endpoint on loopback."""

    endpoint_url: str
    access_key: str = S3_ACCESS_KEY
    secret_key: str = S3_SECRET_KEY
    region: str = "ru-central1"

    def client(self) -> object:
        """A synchronous boto3 client, for test set-up and checks."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server, started once per test session on a free port."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Server(endpoint_url=f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    """A new, empty bucket on the session's S3 server."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(  # type: ignore[attr-defined]
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": s3_server.region}
    )
    return name


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster made with initdb for this session; tests make databases in it."""
    with PostgresServer.start() as server:
        yield server
