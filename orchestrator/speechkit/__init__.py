"""SpeechKit clients: HTTP and the APIs, nothing of the store or the pipeline."""

from __future__ import annotations

from .base import (
    ApiProfile,
    OperationFailure,
    OperationStatus,
    RecognitionClient,
    SubmitRequest,
    Submitted,
)
from .errors import ErrorKind, SpeechKitError, classify, operation_error, transport_errors
from .normalize import normalize_v2
from .v2 import V2_PROFILE, V2Client, parse_operation, v2_request_body

__all__ = [
    "V2_PROFILE",
    "ApiProfile",
    "ErrorKind",
    "OperationFailure",
    "OperationStatus",
    "RecognitionClient",
    "SpeechKitError",
    "SubmitRequest",
    "Submitted",
    "V2Client",
    "classify",
    "normalize_v2",
    "operation_error",
    "parse_operation",
    "transport_errors",
    "v2_request_body",
]
