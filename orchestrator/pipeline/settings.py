"""The parts of the configuration the pipeline uses (replaced whole on reload)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.config import Config
from orchestrator.core import quota
from orchestrator.core.backoff import RetryPolicy
from orchestrator.core.constants import (
    AUDIO_HOURS_PER_DAY,
    PROCESSING_S_PER_AUDIO_S,
    QUOTA_WINDOW_S,
    SUBMIT_QUOTA_PER_HOUR,
    V2_STATUS_QUOTA_PER_HOUR,
)
from orchestrator.core.polling import PollingPolicy
from orchestrator.intake.roots import InputRoots

# How long a claim holds a job. A step that runs longer has its lease renewed by a
# heartbeat; a daemon that dies leaves leases that run out within this.
LEASE_S = 60.0
DAY_S = 86400.0


def default_quotas() -> dict[str, quota.QuotaSpec]:
    """The service's documented quotas, with no margin."""
    return {
        quota.SUBMIT_QUOTA: quota.QuotaSpec(SUBMIT_QUOTA_PER_HOUR, QUOTA_WINDOW_S),
        quota.STATUS_QUOTA: quota.QuotaSpec(V2_STATUS_QUOTA_PER_HOUR, QUOTA_WINDOW_S),
        quota.AUDIO_QUOTA: quota.QuotaSpec(AUDIO_HOURS_PER_DAY * 3600, DAY_S),
    }


@dataclass
class PipelineSettings:
    """What the stages need to know of the configuration."""

    output_root: Path
    key_prefix: str = ""
    delete_after_done: bool = False
    quotas: Mapping[str, quota.QuotaSpec] = field(default_factory=default_quotas)
    uploads: int = 4
    operations_in_flight: int = 200
    fetches: int = 4
    http_concurrency: int = 32
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    polling: PollingPolicy = field(default_factory=PollingPolicy)
    initial_ratio: float = PROCESSING_S_PER_AUDIO_S  # first guess, before any job finished
    lease_s: float = LEASE_S
    node: str = field(default_factory=lambda: os.uname().nodename)
    # Checked again right before a file is read (None: not checked, in tests built in code).
    input_roots: InputRoots | None = None

    def quota(self, name: str) -> quota.QuotaSpec:
        """The spec of the quota called ``name`` (KeyError for a quota nobody configured)."""
        return self.quotas[name]


def settings_from_config(config: Config) -> PipelineSettings:
    """The pipeline's view of the configuration."""
    q = config.quotas
    # The margin is kept in count and in time: a request spent at the very end of our
    # window may reach the service a little later than the one it replaces expires.
    stretch = 1 + q.safety_margin
    return PipelineSettings(
        output_root=config.paths.output,
        key_prefix=config.storage.prefix,
        delete_after_done=config.storage.delete_after_done,
        quotas={
            quota.SUBMIT_QUOTA: quota.QuotaSpec(
                q.submissions, q.window_s * stretch, margin=q.safety_margin
            ),
            quota.STATUS_QUOTA: quota.QuotaSpec(
                q.status_checks, q.window_s * stretch, margin=q.safety_margin
            ),
            quota.AUDIO_QUOTA: quota.QuotaSpec(
                max(1, int(q.audio_hours_per_day * 3600)), DAY_S * stretch, margin=q.safety_margin
            ),
        },
        uploads=config.concurrency.uploads,
        operations_in_flight=config.concurrency.operations_in_flight,
        fetches=config.concurrency.fetches,
        retry=RetryPolicy(
            max_attempts=config.retry.max_attempts,
            base_delay_s=config.retry.base_delay_s,
            max_delay_s=config.retry.max_delay_s,
        ),
        polling=PollingPolicy(
            growth=config.polling.growth,
            min_interval_s=config.polling.min_interval_s,
            max_interval_s=config.polling.max_interval_s,
            deferred_max_interval_s=config.polling.deferred_max_interval_s,
            quantile=config.polling.quantile,
        ),
        initial_ratio=config.polling.initial_ratio,
        input_roots=InputRoots.of(config),
    )
