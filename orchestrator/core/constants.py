"""Facts about SpeechKit shared by the daemon and the emulator (see shared/speechkit-api.md)."""

from __future__ import annotations

from typing import Final

# Endpoints of the real service.
TRANSCRIBE_URL: Final = "https://transcribe.api.cloud.yandex.net"
OPERATION_URL: Final = "https://operation.api.cloud.yandex.net"
STT_V3_URL: Final = "https://stt.api.cloud.yandex.net"
ASR_XML_URL: Final = "https://asr.yandex.net"
STORAGE_URL: Final = "https://storage.yandexcloud.net"
STORAGE_REGION: Final = "ru-central1"
# Where an authorized key's JWT is exchanged for an IAM token (also the JWT's audience).
IAM_TOKENS_URL: Final = "https://iam.api.cloud.yandex.net/iam/v1/tokens"
# A Yandex Cloud VM's metadata service, and the path of its service account's token.
METADATA_URL: Final = "http://169.254.169.254"
METADATA_TOKEN_PATH: Final = "/computeMetadata/v1/instance/service-accounts/default/token"
IAM_TOKENS_PATH: Final = "/iam/v1/tokens"

# Paths.
V2_SUBMIT_PATH: Final = "/speech/stt/v2/longRunningRecognize"
OPERATION_PATH: Final = "/operations/{operation_id}"
V3_SUBMIT_PATH: Final = "/stt/v3/recognizeFileAsync"
V3_RESULT_PATH: Final = "/stt/v3/getRecognition"
V3_DELETE_PATH: Final = "/stt/v3/deleteRecognition"
ASR_XML_PATH: Final = "/asr_xml"
V2_RESPONSE_TYPE: Final = (
    "type.googleapis.com/yandex.cloud.ai.stt.v2.LongRunningRecognitionResponse"
)
# What a google.protobuf.Empty looks like inside an Operation's `response` (operation.proto).
EMPTY_RESPONSE_TYPE: Final = "type.googleapis.com/google.protobuf.Empty"
# Error details carry one of these (speechkit-api.md section 1).
REQUEST_INFO_TYPE: Final = "type.googleapis.com/google.rpc.RequestInfo"

# Recognition settings (API v2).
ENCODINGS: Final = ("OGG_OPUS", "MP3", "LINEAR16_PCM")
LPCM_SAMPLE_RATES: Final = (8000, 16000, 48000)
DEFAULT_SAMPLE_RATE: Final = 48000
DEFAULT_LANGUAGE: Final = "ru-RU"
# Not a language: "find out which" (API v3 without a languageRestriction).
AUTO_LANGUAGE: Final = "auto"
DEFAULT_MODEL: Final = "general"
MODELS: Final = ("general", "general:rc", "general:deprecated", "deferred-general")
# Recognition languages (the documentation's models page); v2 also takes "auto".
RECOGNITION_LANGUAGES: Final = (
    "ru-RU", "en-US", "de-DE", "es-ES", "fi-FI", "fr-FR", "he-HE", "it-IT", "kk-KZ",
    "nl-NL", "pl-PL", "pt-PT", "pt-BR", "sv-SE", "tr-TR", "uz-UZ",
)  # fmt: skip
DEFERRED_MODELS: Final = ("deferred-general",)

# Recognition settings (API v3): stt.proto's RecognitionModelOptions.model comment and
# ContainerAudio.ContainerAudioType; stt_service.proto limits operation_id to 50 characters.
V3_MODELS: Final = (
    "general",
    "general:rc",
    "general:deprecated",
    "deferred-general",
    "deferred-general:rc",
    "deferred-general:deprecated",
)
V3_DEFERRED_MODELS: Final = tuple(model for model in V3_MODELS if model.startswith("deferred-"))
V3_CONTAINERS: Final = ("WAV", "OGG_OPUS", "MP3")
V3_OPERATION_DESCRIPTION: Final = "STT v3 async recognition"
V3_MAX_OPERATION_ID: Final = 50

# The legacy synchronous API (SpeechKit Cloud `asr_xml`, speechkit-api.md section 5).
ASR_XML_CONTENT_TYPES: Final = (
    "audio/x-wav",
    "audio/x-mpeg-3",
    "audio/x-speex",
    "audio/ogg;codecs=opus",
    "audio/webm;codecs=opus",
    "audio/x-pcm;bit=16;rate=16000",
    "audio/x-pcm;bit=16;rate=8000",
    "audio/x-alaw;bit=13;rate=8000",
)
ASR_XML_LANGUAGES: Final = ("ru-RU", "en-US", "uk-UK", "tr-TR")
ASR_XML_DEFAULT_LANGUAGE: Final = "ru-RU"
# The documented topics, then two that code in the wild sends.
ASR_XML_TOPICS: Final = (
    "queries", "maps", "dates", "names", "numbers", "music", "buying", "notes", "general",
)  # fmt: skip
ASR_XML_MAX_BODY_BYTES: Final = 1024 * 1024  # with Content-Length
ASR_XML_MAX_VARIANTS: Final = 5

APIS: Final = ("v2", "v3", "asr_xml")

# Quotas and limits (asynchronous recognition).
SUBMIT_QUOTA_PER_HOUR: Final = 500
V2_STATUS_QUOTA_PER_HOUR: Final = 2500
V3_STATUS_PER_SECOND: Final = 5
# Today's synchronous recognition quota (the documentation's quotas page); the legacy
# asr_xml API's own rate was never published, so the emulator assumes the same.
SYNC_REQUESTS_PER_SECOND: Final = 20
AUDIO_HOURS_PER_DAY: Final = 10_000
MAX_FILE_BYTES: Final = 1024**3
MAX_INLINE_BYTES: Final = 60 * 1024**2
MAX_DURATION_S: Final = 4 * 3600.0
# Audio seconds (all channels) a conversion to Ogg Opus gets through per CPU second: what
# `plan` counts. Below what `python -m bench.convert` measures for every format it tries
# (telephony WAV is much faster), so the plan's time to finish is not too short.
CONVERSION_AUDIO_S_PER_CPU_S: Final = 200.0
RESULT_TTL_S: Final = 3 * 24 * 3600.0
QUOTA_WINDOW_S: Final = 3600.0

# Processing speed: about 10 s per minute of audio, all channels counted.
PROCESSING_S_PER_AUDIO_S: Final = 10.0 / 60.0

# Billing: 1 s of two-channel audio; channels rounded up to even; at least 15 s per pair.
BILLING_MIN_S_PER_PAIR: Final = 15.0

# gRPC codes used in error bodies, and their HTTP statuses.
GRPC_INVALID_ARGUMENT: Final = 3
GRPC_DEADLINE_EXCEEDED: Final = 4
GRPC_NOT_FOUND: Final = 5
GRPC_PERMISSION_DENIED: Final = 7
GRPC_RESOURCE_EXHAUSTED: Final = 8
GRPC_UNIMPLEMENTED: Final = 12
GRPC_INTERNAL: Final = 13
GRPC_UNAVAILABLE: Final = 14
GRPC_UNAUTHENTICATED: Final = 16
GRPC_TO_HTTP: Final = {
    GRPC_INVALID_ARGUMENT: 400,
    GRPC_DEADLINE_EXCEEDED: 504,
    GRPC_NOT_FOUND: 404,
    GRPC_PERMISSION_DENIED: 403,
    GRPC_RESOURCE_EXHAUSTED: 429,
    GRPC_INTERNAL: 500,
    GRPC_UNAVAILABLE: 503,
    GRPC_UNAUTHENTICATED: 401,
    GRPC_UNIMPLEMENTED: 501,
}
