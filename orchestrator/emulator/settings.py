"""The emulator's options: one frozen dataclass, shared by the CLI and the in-process API."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.core import constants

# A key anyone may use with a local emulator; it opens nothing real.
DEMO_API_KEY = "emulator-demo-key"


@dataclass(frozen=True)
class EmulatorSettings:
    """How the emulator listens, whom it lets in, how fast its clock runs and what goes wrong.

    Durations are wall-clock seconds. ``speed`` divides processing times; ``ttl_s`` and
    ``quota_window_s`` left as None are the real service's values divided by ``speed``.
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
    # Fault injection: each API request draws once; rates are probabilities in [0, 1].
    error_5xx_rate: float = 0.0
    reset_rate: float = 0.0
    slow_rate: float = 0.0
    slow_s: float = 1.0
    op_error_rate: float = 0.0

    def __post_init__(self) -> None:
        for name in ("error_5xx_rate", "reset_rate", "slow_rate", "op_error_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {value}")
        if self.error_5xx_rate + self.reset_rate + self.slow_rate > 1.0:
            raise ValueError("error_5xx_rate + reset_rate + slow_rate must not exceed 1")
        if self.speed <= 0:
            raise ValueError(f"speed must be positive, not {self.speed}")
        if self.submit_quota < 1 or self.status_quota < 1:
            raise ValueError("quotas must be at least 1")
        if self.max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        for name in ("quota_window_s", "ttl_s"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive, not {value}")
        if self.slow_s < 0 or self.deferred_factor <= 0 or self.processing_noise < 0:
            raise ValueError("slow_s, deferred_factor and processing_noise must not be negative")

    @property
    def effective_window_s(self) -> float:
        """The quota window in wall-clock seconds."""
        if self.quota_window_s is not None:
            return self.quota_window_s
        return constants.QUOTA_WINDOW_S / self.speed

    @property
    def effective_ttl_s(self) -> float:
        """How long a finished operation stays readable, in wall-clock seconds."""
        if self.ttl_s is not None:
            return self.ttl_s
        return constants.RESULT_TTL_S / self.speed
