"""The pure parts of renewing credentials: when a token is renewed, what its JWT claims,
what a failed renewal means for a job, and how the config reads an authorized key."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_public_key,
)

from orchestrator.auth.sources import AuthorizedKeySource
from orchestrator.auth.tokens import parse_timestamp
from orchestrator.config import config_from_mapping
from orchestrator.core.backoff import RetryPolicy
from orchestrator.core.constants import IAM_TOKENS_URL
from orchestrator.core.credentials import (
    EXPIRY_MARGIN_S,
    JWT_LIFETIME_S,
    RETRY_MAX_S,
    jwt_claims,
    renew_at,
    retry_after_failures,
    usable,
)
from orchestrator.core.decisions import (
    CREDENTIALS_WAIT_S,
    AskLater,
    Circumstances,
    Failure,
    after_failure,
)
from orchestrator.core.errors import UserInputError
from orchestrator.core.failures import ErrorKind
from orchestrator.core.jobs import Stage, State
from orchestrator.emulator.iam import Iam
from orchestrator.telemetry.logs import redact_text
from tests.unit.test_decisions import job

HOUR = 3600.0
KEY = Iam(60.0).authorized_key()


@pytest.mark.parametrize(
    ("lifetime", "after"),
    [
        (12 * HOUR, HOUR),  # Yandex's advice: a new token every hour
        (1.5 * HOUR, HOUR),
        (HOUR, 0.9 * HOUR),  # a tenth of its lifetime left comes first
        (3.0, 2.7),
        (0.0, 0.0),
    ],
)
def test_a_token_is_renewed_an_hour_on_or_with_a_tenth_of_its_life_left(
    lifetime: float, after: float
) -> None:
    assert renew_at(1000.0, 1000.0 + lifetime) == pytest.approx(1000.0 + after)


def test_a_token_is_not_sent_within_the_margin_of_its_expiry() -> None:
    assert usable(100.0, 200.0)
    assert not usable(200.0 - EXPIRY_MARGIN_S, 200.0)
    assert usable(0.0, float("inf"))


def test_failed_renewals_back_off_to_a_ceiling() -> None:
    delays = [retry_after_failures(n) for n in range(0, 12)]
    assert delays[0] == 0.0
    assert delays[1:4] == [1.0, 2.0, 4.0]
    assert delays == sorted(delays)
    assert delays[-1] == RETRY_MAX_S


def test_the_jwt_lives_at_most_an_hour() -> None:
    claims = jwt_claims("ajeaccount", IAM_TOKENS_URL, 1_000_000, lifetime_s=5 * 3600)
    assert claims == {
        "iss": "ajeaccount",
        "aud": IAM_TOKENS_URL,
        "iat": 1_000_000,
        "exp": 1_000_000 + JWT_LIFETIME_S,
    }


def test_the_signed_jwt_names_the_key_and_verifies_with_its_public_half(tmp_path: Path) -> None:
    config = speechkit_with_key(tmp_path, json.dumps(KEY))
    assert config.authorized_key is not None
    source = AuthorizedKeySource(None, config.authorized_key)  # type: ignore[arg-type]
    signed = source.signed_jwt(1_700_000_000.0)
    header = jwt.get_unverified_header(signed)
    assert header["alg"] == "PS256"
    assert header["kid"] == KEY["id"]
    public = load_pem_public_key(KEY["public_key"].encode())
    claims = jwt.decode(
        signed,
        public,  # type: ignore[arg-type]
        algorithms=["PS256"],
        audience=IAM_TOKENS_URL,
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["iss"] == KEY["service_account_id"]
    assert claims["exp"] - claims["iat"] == JWT_LIFETIME_S
    # The JWT is a credential too: never in a log line.
    assert signed not in redact_text(f"sent {signed}")


def test_a_step_without_a_credential_waits_and_spends_no_attempt() -> None:
    when = Circumstances(now=1000.0, rand=0.5, retry=RetryPolicy(max_attempts=3))
    for retry_after, wait in ((None, CREDENTIALS_WAIT_S), (4.0, 4.0), (0.0, 1.0)):
        failure = Failure(ErrorKind.CREDENTIALS, "no token", retry_after)
        decision = after_failure(Stage.SUBMIT, failure, job(State.SUBMITTING, attempts=2), when)
        assert decision == AskLater(State.UPLOADED, 1000.0 + wait, 2)
    failure = Failure(ErrorKind.CREDENTIALS, "no token")
    assert after_failure(Stage.POLL, failure, job(attempts=0), when) == AskLater(
        State.RUNNING, 1000.0 + CREDENTIALS_WAIT_S, 0
    )


def speechkit_with_key(tmp_path: Path, text: str, **more: object):  # type: ignore[no-untyped-def]
    path = tmp_path / "sa-key.json"
    path.write_text(text, "utf-8")
    path.chmod(0o600)
    section = {"authorized_key_file": str(path), **more}
    mapping = {"speechkit": section, "storage": {"bucket": "audio"}}
    return config_from_mapping(mapping, base_dir=tmp_path, env={}).speechkit


def problem_of(tmp_path: Path, text: str, **more: object) -> str:
    with pytest.raises(UserInputError) as raised:
        speechkit_with_key(tmp_path, text, **more)
    (problem,) = raised.value.problems
    return str(problem)


def other_key(field: str, value: object) -> str:
    return json.dumps({**KEY, field: value})


def test_an_authorized_key_is_read_and_its_private_key_redacted(tmp_path: Path) -> None:
    config = speechkit_with_key(tmp_path, json.dumps(KEY))
    key = config.authorized_key
    assert key is not None
    assert key.key_id == KEY["id"]
    assert key.service_account_id == KEY["service_account_id"]
    assert "PRIVATE KEY" not in repr(config)
    pem = key.private_key.reveal()
    assert pem.splitlines()[1] not in redact_text(f"key: {pem}")


def test_a_wrong_authorized_key_is_named_by_file_and_field(tmp_path: Path) -> None:
    where = str(tmp_path / "sa-key.json")
    assert "not JSON" in problem_of(tmp_path, "{this is no json at all")
    missing = problem_of(tmp_path, other_key("service_account_id", None))
    assert where in missing
    assert "speechkit.authorized_key_file" in missing
    assert "'service_account_id' is missing" in missing
    garbled = problem_of(tmp_path, other_key("private_key", "-----BEGIN PRIVATE KEY-----\nAAAA"))
    assert "'private_key' is not an unencrypted PEM private key" in garbled
    ec_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )
    assert "not an RSA key" in problem_of(tmp_path, other_key("private_key", ec_key.decode()))
    for text in (missing, garbled):
        assert KEY["private_key"].splitlines()[2] not in text


def test_one_credential_only(tmp_path: Path) -> None:
    both = problem_of(tmp_path, json.dumps(KEY), metadata_token=True)
    assert "give one credential: authorized_key or metadata_token" in both


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2026-12-07T23:00:00Z", 1796684400.0),
        ("2026-12-07T23:00:00.123456789Z", 1796684400.123456),
        ("2026-12-08T02:00:00+03:00", 1796684400.0),
        ("2026-12-07T23:00:00", None),  # no zone: not a time the IAM service writes
        ("yesterday", None),
        (None, None),
    ],
)
def test_expires_at_is_read_as_rfc3339(text: str | None, seconds: float | None) -> None:
    assert parse_timestamp(text) == (pytest.approx(seconds) if seconds else None)
