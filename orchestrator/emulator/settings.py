"""The emulator's options: one frozen dataclass, shared by the CLI and the in-process API."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.core import constants

# A key anyone may use with a local emulator; it opens nothing real.
DEMO_API_KEY = "emulator-demo-key"
# gRPC codes a failed operation may end with: 3 (bad audio or settings) and 7 (no access)
# are the client's fault; 4, 13 and 14 are the service's own trouble, worth resubmitting.
OPERATION_ERROR_CODES = (3, 4, 7, 13, 14)
# How getRecognition lays its messages out: one per line (grpc-gateway's way), each
# pretty-printed over many lines (the documentation's example), or all on one line.
V3_STREAM_LAYOUTS = ("lines", "pretty", "packed")
# The audio quota's window: a day (speechkit-api.md section 4: 10,000 hours per day).
_DAY_S = 86400.0
# An IAM token lives at most 12 hours (speechkit-api.md section 1).
IAM_TOKEN_LIFETIME_S = 12 * 3600.0


@dataclass(frozen=True)
class EmulatorSettings:
    """How the emulator listens, whom it lets in, how fast its clock runs and what goes wrong.

    Durations are wall-clock seconds. ``speed`` divides processing times; ``ttl_s`` and
    the quota windows left as None are the real service's values divided by ``speed``.
    ``timestamp_resolution_s`` is in service seconds (so at speed 100, 1 is 10 ms of wall time).
    """

    host: str = "127.0.0.1"
    port: int = 0
    api_keys: tuple[str, ...] = (DEMO_API_KEY,)
    iam_tokens: tuple[str, ...] = ()
    # Where https://storage.yandexcloud.net/<bucket>/<key> is fetched from (None: the real host).
    s3_endpoint_url: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_region: str = constants.STORAGE_REGION
    speed: float = 1.0
    seed: int = 0
    submit_quota: int = constants.SUBMIT_QUOTA_PER_HOUR
    status_quota: int = constants.V2_STATUS_QUOTA_PER_HOUR
    quota_window_s: float | None = None
    ttl_s: float | None = None
    max_concurrent: int = 100
    # Processing time of deferred-* models, as a multiple of the normal one.
    deferred_factor: float = 10.0
    # Spread of processing times: each one is multiplied by a log-normal factor of this sigma.
    processing_noise: float = 0.15
    # A fixed part of each operation's processing time, SERVICE seconds (divided by speed
    # like the rest); 0 keeps processing time proportional to the audio.
    processing_overhead_s: float = 0.0
    # Fault injection: each API request draws once; rates are probabilities in [0, 1].
    error_5xx_rate: float = 0.0
    reset_rate: float = 0.0
    slow_rate: float = 0.0
    slow_s: float = 1.0
    op_error_rate: float = 0.0
    # The codes failed operations end with, drawn evenly (default: one transient, one not).
    op_error_codes: tuple[int, ...] = (13, 3)
    # Share of failed operations that report `done: false` with `error` (operation.proto
    # allows it; speechkit-api.md asks clients to treat it as finished).
    op_error_undone_rate: float = 0.0
    # API v3 status checks (operation GETs of v3 operations and getRecognition).
    v3_status_quota: int = constants.V3_STATUS_PER_SECOND
    v3_status_window_s: float | None = None
    # The legacy asr_xml API's request rate.
    asr_xml_quota: int = constants.SYNC_REQUESTS_PER_SECOND
    asr_xml_window_s: float | None = None
    # Send Retry-After on 429 (the real service documents none).
    retry_after: bool = False
    # Operation timestamps are cut to this many service seconds (0: microseconds).
    timestamp_resolution_s: float = 1.0
    # A chunked asr_xml body longer than this is refused (413).
    asr_xml_max_stream_bytes: int = 32 * 1024 * 1024
    # asr_xml keys that are known but locked (answered 423).
    asr_xml_locked_keys: tuple[str, ...] = ()
    # A finished v3 Operation carries `response: {"@type": ...Empty}` instead of nothing.
    v3_empty_response: bool = False
    # How getRecognition's messages are laid out (one of V3_STREAM_LAYOUTS).
    v3_stream_layout: str = "lines"
    # Billable audio hours (v2 and v3) per audio window; the window defaults to a day/speed.
    audio_quota_hours: float = float(constants.AUDIO_HOURS_PER_DAY)
    audio_window_s: float | None = None
    # How long an IAM token it issues is taken, wall-clock seconds (None: 12 hours/speed).
    iam_token_lifetime_s: float | None = None
    # Where to write the authorized key of its service account at start (None: nowhere).
    authorized_key_path: str | None = None

    def __post_init__(self) -> None:
        for name in (
            "error_5xx_rate",
            "reset_rate",
            "slow_rate",
            "op_error_rate",
            "op_error_undone_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {value}")
        if self.error_5xx_rate + self.reset_rate + self.slow_rate > 1.0:
            raise ValueError("error_5xx_rate + reset_rate + slow_rate must not exceed 1")
        if self.speed <= 0:
            raise ValueError(f"speed must be positive, not {self.speed}")
        quotas = (self.submit_quota, self.status_quota, self.v3_status_quota, self.asr_xml_quota)
        if min(quotas) < 1:
            raise ValueError("quotas must be at least 1")
        if not self.op_error_codes or not set(self.op_error_codes) <= set(OPERATION_ERROR_CODES):
            allowed = ", ".join(str(code) for code in OPERATION_ERROR_CODES)
            raise ValueError(f"op_error_codes must be some of {allowed}, not {self.op_error_codes}")
        if self.timestamp_resolution_s < 0:
            raise ValueError("timestamp_resolution_s must not be negative")
        if self.asr_xml_max_stream_bytes < 1:
            raise ValueError("asr_xml_max_stream_bytes must be at least 1")
        if self.max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        for name in (
            "quota_window_s",
            "ttl_s",
            "v3_status_window_s",
            "asr_xml_window_s",
            "iam_token_lifetime_s",
        ):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive, not {value}")
        self._check_processing()
        self._check_answers()

    def _check_processing(self) -> None:
        """The options of how long recognition takes."""
        if self.slow_s < 0 or self.deferred_factor <= 0 or self.processing_noise < 0:
            raise ValueError("slow_s, deferred_factor and processing_noise must not be negative")
        if not 0.0 <= self.processing_overhead_s < float("inf"):
            raise ValueError(
                f"processing_overhead_s must be finite and not negative, "
                f"not {self.processing_overhead_s}"
            )

    def _check_answers(self) -> None:
        """The options of how answers are shaped, and the audio quota."""
        if self.audio_quota_hours <= 0 or (self.audio_window_s or 1.0) <= 0:
            raise ValueError("audio_quota_hours and audio_window_s must be positive")
        if self.v3_stream_layout not in V3_STREAM_LAYOUTS:
            allowed = ", ".join(V3_STREAM_LAYOUTS)
            raise ValueError(
                f"v3_stream_layout must be one of {allowed}, not {self.v3_stream_layout}"
            )

    @property
    def effective_window_s(self) -> float:
        """The quota window in wall-clock seconds."""
        if self.quota_window_s is not None:
            return self.quota_window_s
        return constants.QUOTA_WINDOW_S / self.speed

    @property
    def effective_audio_window_s(self) -> float:
        """The audio quota's window in wall-clock seconds (a day divided by ``speed``)."""
        if self.audio_window_s is not None:
            return self.audio_window_s
        return _DAY_S / self.speed

    @property
    def effective_ttl_s(self) -> float:
        """How long a finished operation stays readable, in wall-clock seconds."""
        if self.ttl_s is not None:
            return self.ttl_s
        return constants.RESULT_TTL_S / self.speed

    @property
    def effective_iam_token_lifetime_s(self) -> float:
        """How long an issued IAM token is taken, in wall-clock seconds."""
        if self.iam_token_lifetime_s is not None:
            return self.iam_token_lifetime_s
        return IAM_TOKEN_LIFETIME_S / self.speed

    @property
    def effective_v3_status_window_s(self) -> float:
        """The v3 status-check window in wall-clock seconds (one service second by default)."""
        if self.v3_status_window_s is not None:
            return self.v3_status_window_s
        return 1.0 / self.speed

    @property
    def effective_asr_xml_window_s(self) -> float:
        """The asr_xml request-rate window in wall-clock seconds."""
        if self.asr_xml_window_s is not None:
            return self.asr_xml_window_s
        return 1.0 / self.speed

    @property
    def timestamp_resolution_wall_s(self) -> float:
        """The Operation timestamps' resolution in wall-clock seconds (0: exact)."""
        return self.timestamp_resolution_s / self.speed
