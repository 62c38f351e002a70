"""What kind of failure a request met, whatever service or transport it came from (pure)."""

from __future__ import annotations

import enum


class ErrorKind(enum.Enum):
    """What the caller should do about an error."""

    RETRYABLE = "retryable"  # 5xx, 408, timeouts, connection resets: back off and try again
    QUOTA = "quota"  # 429: pause this quota for retry_after (or a backoff)
    PERMANENT = "permanent"  # 400, 403, a failed operation: fail the job with the message
    AUTH = "auth"  # 401: the credential is wrong; nothing will work until it is fixed
    NOT_FOUND = "not_found"  # 404: its meaning depends on the API and the step

    @property
    def retryable(self) -> bool:
        """True when the same request may succeed later without any change."""
        return self in (ErrorKind.RETRYABLE, ErrorKind.QUOTA)
