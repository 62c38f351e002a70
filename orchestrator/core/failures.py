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
    # No credential could be had (renewing an IAM token failed): the request was not sent;
    # the job waits, spending no attempt, until one can.
    CREDENTIALS = "credentials"
    # The object storage bucket cannot be used (none, no rights, refused credentials):
    # no job's fault; the job waits, spending no attempt, until a check finds it mended.
    BUCKET = "bucket"

    @property
    def retryable(self) -> bool:
        """True when the same request may succeed later without any change."""
        return self in (ErrorKind.RETRYABLE, ErrorKind.QUOTA)


class ReasonClass(enum.StrEnum):
    """Why a job failed for good: the ``reason_class`` of ``job.failed`` and the ``reason``
    label of ``jobs_failed_total``. The operators' guide lists the same values."""

    AUDIO = "audio"  # the file is missing, unreadable, outside the input roots, or not audio
    STORAGE = "storage"  # object storage refused the upload for good
    PERMANENT = "permanent"  # the service refused the request (400, 403, a wrong endpoint)
    RECOGNITION = "recognition"  # the operation finished with an error
    QUOTA = "quota"  # the file alone is more audio than the whole daily quota
    RETRIES_EXHAUSTED = "retries_exhausted"  # transient errors outlasted retry.max_attempts

    @property
    def retryable(self) -> bool:
        """Whether ``speechkit-orchestrator retry`` may help: only when time was the trouble."""
        return self is ReasonClass.RETRIES_EXHAUSTED
