"""When a renewable credential is renewed, and what its JWT claims (pure: no clock, no I/O).

An IAM token lives at most 12 hours and Yandex advises fetching a new one every hour: a
token is renewed an hour after it was issued or with a tenth of its lifetime left,
whichever comes first, so a failed renewal leaves most of the old token's life to retry in.
"""

from __future__ import annotations

from typing import Any, Final

# Yandex's advice: a new IAM token every hour.
RENEW_EVERY_S: Final = 3600.0
# ...or with this share of its lifetime left, whichever comes first.
RENEW_LEFT_SHARE: Final = 0.1
# A token this close to its expiry is not sent: the request could arrive after it.
EXPIRY_MARGIN_S: Final = 1.0
# An authorized key's JWT lives at most an hour (the IAM service refuses longer ones).
JWT_LIFETIME_S: Final = 3600
# How soon a failed renewal is tried again: doubling from the first, up to the last.
RETRY_FIRST_S: Final = 1.0
RETRY_MAX_S: Final = 60.0


def renew_at(issued_at: float, expires_at: float) -> float:
    """When a token issued at ``issued_at`` and expiring at ``expires_at`` is renewed."""
    lifetime = max(0.0, expires_at - issued_at)
    return issued_at + min(RENEW_EVERY_S, lifetime * (1.0 - RENEW_LEFT_SHARE))


def usable(now: float, expires_at: float) -> bool:
    """Whether a token may still be sent at ``now`` (not within the margin of its expiry)."""
    return now < expires_at - EXPIRY_MARGIN_S


def retry_after_failures(failures: int) -> float:
    """Seconds before renewing again after ``failures`` renewals in a row failed."""
    if failures <= 0:
        return 0.0
    return min(RETRY_MAX_S, RETRY_FIRST_S * 2.0 ** min(failures - 1, 30))


def jwt_claims(
    service_account_id: str, audience: str, now: int, lifetime_s: int = JWT_LIFETIME_S
) -> dict[str, Any]:
    """The claims of an authorized key's JWT: issued by the service account, for the IAM
    tokens URL, valid from ``now`` for at most an hour."""
    return {
        "iss": service_account_id,
        "aud": audience,
        "iat": now,
        "exp": now + min(lifetime_s, JWT_LIFETIME_S),
    }


def jwt_headers(key_id: str) -> dict[str, str]:
    """The JWT's header fields beside ``alg`` (PS256): the key's id."""
    return {"kid": key_id}
