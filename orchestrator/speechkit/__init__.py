"""SpeechKit clients: HTTP and the APIs, nothing of the store or the pipeline."""

from __future__ import annotations

from .asr_xml import ASR_XML_SPEC, AsrXmlClient
from .base import (
    LocalAudio,
    OperationFailure,
    OperationStatus,
    RecognitionClient,
    SubmitRequest,
    Submitted,
)
from .catalogue import CATALOGUE
from .errors import (
    ErrorKind,
    RecognitionFailed,
    SpeechKitError,
    classify,
    operation_error,
    transport_errors,
)
from .normalize import normalize_v2
from .normalize_v3 import normalize_v3
from .v2 import V2_SPEC, V2Client, parse_operation, v2_request_body
from .v3 import V3_SPEC, V3Client, v3_request_body

__all__ = [
    "ASR_XML_SPEC",
    "CATALOGUE",
    "V2_SPEC",
    "V3_SPEC",
    "AsrXmlClient",
    "ErrorKind",
    "LocalAudio",
    "OperationFailure",
    "OperationStatus",
    "RecognitionClient",
    "RecognitionFailed",
    "SpeechKitError",
    "SubmitRequest",
    "Submitted",
    "V2Client",
    "V3Client",
    "classify",
    "normalize_v2",
    "normalize_v3",
    "operation_error",
    "parse_operation",
    "transport_errors",
    "v2_request_body",
    "v3_request_body",
]
