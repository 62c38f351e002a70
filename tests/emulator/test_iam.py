"""The emulator's IAM: which JWTs get a token, how long a token is taken, and its options."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jwt
import pytest

from orchestrator.core.constants import IAM_TOKENS_URL
from orchestrator.emulator.cli import describe, register, settings_from_args
from orchestrator.emulator.iam import Iam, TokenRefused


def signed(iam: Iam, *, kid: str | None = None, aud: str = IAM_TOKENS_URL, life: int = 3600) -> str:
    """A JWT as a client signs it with the emulator's key."""
    private = iam.authorized_key()["private_key"].split("\n", 1)[1]
    now = int(time.time())
    claims = {"iss": iam.service_account_id, "aud": aud, "iat": now, "exp": now + life}
    return jwt.encode(claims, private, algorithm="PS256", headers={"kid": kid or iam.key_id})


def test_a_jwt_signed_with_the_key_gets_a_token_that_expires() -> None:
    iam = Iam(lifetime_s=5.0)
    token, expires_at = iam.exchange(signed(iam), [IAM_TOKENS_URL], now=100.0)
    assert expires_at == 105.0
    assert iam.check(token, 104.9) is None
    assert iam.check(token, 105.0) == "expired"
    assert iam.check("t1.never-issued-here", 100.0) == "unknown"
    assert iam.as_json() == {"lifetime_s": 5.0, "tokens_issued": {"jwt": 1}}


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"kid": "ajkanotherkey"}, "kid"),
        ({"aud": "https://elsewhere.example/iam/v1/tokens"}, "not valid"),
        ({"life": 3601}, "longer than an hour"),
    ],
)
def test_a_jwt_is_refused_for_its_key_audience_or_lifetime(
    changes: dict[str, object], why: str
) -> None:
    iam = Iam(lifetime_s=60.0)
    with pytest.raises(TokenRefused, match=why):
        iam.exchange(signed(iam, **changes), [IAM_TOKENS_URL], now=time.time())  # type: ignore[arg-type]
    assert iam.issued == {}


def test_a_jwt_of_another_key_pair_is_refused() -> None:
    iam, other = Iam(lifetime_s=60.0), Iam(lifetime_s=60.0)
    forged = signed(other, kid=iam.key_id)
    with pytest.raises(TokenRefused, match="not valid"):
        iam.exchange(forged, [IAM_TOKENS_URL], now=time.time())


def test_the_options_set_the_lifetime_and_where_the_key_goes(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    path = str(tmp_path / "key.json")
    args = parser.parse_args(
        ["emulator", "--iam-token-lifetime-s", "3", "--write-authorized-key", path]
    )
    settings = settings_from_args(args, {})
    assert settings.effective_iam_token_lifetime_s == 3.0
    assert settings.authorized_key_path == path
    assert "  IAM token lifetime: 3 s" in describe(settings)
    default = settings_from_args(parser.parse_args(["emulator", "--speed", "100"]), {})
    assert default.effective_iam_token_lifetime_s == 12 * 3600 / 100


def test_the_written_key_has_what_yc_writes(tmp_path: Path) -> None:
    iam = Iam(lifetime_s=60.0)
    iam.write_authorized_key(tmp_path / "key.json")
    data = json.loads((tmp_path / "key.json").read_text("utf-8"))
    assert {"id", "service_account_id", "private_key", "public_key", "key_algorithm"} <= set(data)
    assert data["id"] == iam.key_id
    assert (tmp_path / "key.json").stat().st_mode & 0o777 == 0o600
