"""The daemon's YAML config -> typed, validated, frozen objects (``schema``, ``loader``)."""

from __future__ import annotations

from orchestrator.config.loader import config_from_mapping, load_config
from orchestrator.config.schema import (
    ConcurrencyConfig,
    Config,
    HooksConfig,
    IntakeConfig,
    LoggingConfig,
    OutputsConfig,
    PathsConfig,
    PollingConfig,
    QuotaRate,
    QuotasConfig,
    RetryConfig,
    Secret,
    ServiceConfig,
    SpeechKitConfig,
    StateConfig,
    StatusConfig,
    StorageConfig,
)

__all__ = [
    "ConcurrencyConfig",
    "Config",
    "HooksConfig",
    "IntakeConfig",
    "LoggingConfig",
    "OutputsConfig",
    "PathsConfig",
    "PollingConfig",
    "QuotaRate",
    "QuotasConfig",
    "RetryConfig",
    "Secret",
    "ServiceConfig",
    "SpeechKitConfig",
    "StateConfig",
    "StatusConfig",
    "StorageConfig",
    "config_from_mapping",
    "load_config",
]
