"""The parts of the configuration the pipeline uses (replaced whole on reload)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.config import (
    ConcurrencyConfig,
    Config,
    OutputsConfig,
    PollingConfig,
    QuotasConfig,
    RetryConfig,
    ServiceConfig,
    SpeechKitConfig,
    StorageConfig,
)
from orchestrator.core import quota
from orchestrator.core.backoff import RetryPolicy
from orchestrator.core.polling import PollingPolicy
from orchestrator.intake.roots import InputRoots

# The config's defaults, which settings built in code (tests, benches) start from: the
# schema is the one place a default is written.
_SPEECHKIT = SpeechKitConfig()
_STORAGE = StorageConfig(bucket="")
_CONCURRENCY = ConcurrencyConfig()
_POLLING = PollingConfig()
_SERVICE = ServiceConfig()
_OUTPUTS = OutputsConfig()
DAY_S = 86400.0
# How late after its claim a request may reach the service, at most (see ``per_second``).
SEND_SLACK_S = 0.25


def default_quotas() -> dict[str, quota.QuotaSpec]:
    """The service's documented quotas (the config's defaults), with no margin."""
    q = QuotasConfig()
    return {
        quota.SUBMIT_QUOTA: quota.QuotaSpec(q.submissions, q.window_s),
        quota.STATUS_QUOTA: quota.QuotaSpec(q.status_checks, q.window_s),
        quota.V3_STATUS_QUOTA: per_second(q.v3_status_checks_per_second, 0.0),
        quota.ASR_XML_QUOTA: per_second(q.asr_xml_requests_per_second, 0.0),
        quota.AUDIO_QUOTA: quota.QuotaSpec(int(q.audio_hours_per_day * 3600), DAY_S),
    }


def retry_policy(retry: RetryConfig) -> RetryPolicy:
    """The retry section as the pipeline's policy."""
    return RetryPolicy(
        max_attempts=retry.max_attempts,
        base_delay_s=retry.base_delay_s,
        max_delay_s=retry.max_delay_s,
    )


def polling_policy(polling: PollingConfig) -> PollingPolicy:
    """The polling section as the pipeline's spacing of checks."""
    return PollingPolicy(
        growth=polling.growth,
        min_interval_s=polling.min_interval_s,
        max_interval_s=polling.max_interval_s,
        deferred_max_interval_s=polling.deferred_max_interval_s,
        quantile=polling.quantile,
    )


def per_second(rate: float, margin: float) -> quota.QuotaSpec:
    """A quota of ``rate`` requests per second, ``margin`` of it kept unused.

    The ledger records a request when its claim is granted; it reaches the service a moment
    later (a busy event loop, a new connection). Over an hour the margin's stretch of the
    window (2% is 72 s) covers that; over one second it does not: on a loaded 2-core test
    machine requests left up to 0.12 s after their claim, and six of them met in one
    second of the service's. So a per-second window is also stretched by ``SEND_SLACK_S``.
    And the margin is kept in time, not in count: 2% of 5 requests would keep a whole one
    unused. The price, 5 per 1.3 s rather than per 1 s, is paid where it costs nothing: v3
    status checks (18,000 an hour) never limit a daemon bound by 500 submissions an hour,
    and asr_xml requests are held to fewer by their concurrency cap. A rate under one a
    second becomes one request per ``1 / rate`` seconds.
    """
    limit = max(1, math.floor(rate + 1e-9))
    window = limit / rate + SEND_SLACK_S
    return quota.QuotaSpec(limit, window * (1 + margin) / (1 - margin))


@dataclass
class PipelineSettings:
    """What the stages need to know of the configuration."""

    output_root: Path
    key_prefix: str = _STORAGE.prefix
    delete_after_done: bool = _STORAGE.delete_after_done
    quotas: Mapping[str, quota.QuotaSpec] = field(default_factory=default_quotas)
    uploads: int = _CONCURRENCY.uploads
    operations_in_flight: int = _CONCURRENCY.operations_in_flight
    fetches: int = _CONCURRENCY.fetches
    upload_ahead: int | None = _CONCURRENCY.upload_ahead  # None: a submission window's worth
    # Requests in flight at once per stage (submissions, status checks): each step sends
    # its request as soon as its claim spent the quota, so the ledger's times are the
    # requests' times.
    http_concurrency: int = 32
    retry: RetryPolicy = field(default_factory=lambda: retry_policy(RetryConfig()))
    polling: PollingPolicy = field(default_factory=lambda: polling_policy(_POLLING))
    initial_ratio: float = _POLLING.initial_ratio  # first guess, before any job finished
    # How long a claim holds a job. A step that runs longer has its lease renewed by a
    # heartbeat; a daemon that dies leaves leases that run out within this.
    lease_s: float = _SERVICE.lease_s
    node: str = field(default_factory=lambda: ServiceConfig().node)
    # Status checks a job may cost on average: None = what the quotas allow (see
    # ``check_budget``), 0 = no planned schedule.
    checks_per_job: float | None = _POLLING.checks_per_job
    check_reserve: float = _POLLING.check_reserve
    # Transcripts go to objects under this prefix (None: not); and with ``outputs_local``
    # to the output directory of the manifest's node too, first. Objects alone: any node
    # may write them.
    outputs_prefix: str | None = _OUTPUTS.s3_prefix
    outputs_local: bool = _OUTPUTS.local
    # Requests of an API waiting for their answer at once, by API (a synchronous API's
    # submissions hold a connection for the whole recognition).
    api_concurrency: Mapping[str, int] = field(
        default_factory=lambda: {"asr_xml": _CONCURRENCY.asr_xml_requests}
    )
    results_ttl_s: float = _SPEECHKIT.results_ttl_s
    delete_results_after_done: bool = _SPEECHKIT.delete_results_after_done
    # The resolution of the service's createdAt/modifiedAt (whole seconds).
    timestamp_resolution_s: float = _POLLING.timestamp_resolution_s
    # Checked again right before a file is read (None: not checked, in tests built in code).
    input_roots: InputRoots | None = None

    def quota(self, name: str) -> quota.QuotaSpec:
        """The spec of the quota called ``name`` (KeyError for a quota nobody configured)."""
        return self.quotas[name]

    def uploads_ahead(self) -> int:
        """How many jobs may wait uploaded for their submission: uploads run just ahead of
        the submission quota, so an object does not sit in the bucket for days and a
        cancelled manifest leaves little to clean up."""
        if self.upload_ahead is not None:
            return self.upload_ahead
        return self.quota(quota.SUBMIT_QUOTA).effective_limit

    def check_budget(self, status_quota: str, submit_quota: str) -> float | None:
        """Checks per job to plan each job's checks for (None: no planned schedule).

        In a backlog, jobs finish as fast as they are submitted, so each may cost the status
        checks the quota allows per submission; a reserve is kept for the jobs that outrun
        their schedule, retries and other clients of the same quota.
        """
        if self.checks_per_job is not None:
            return self.checks_per_job or None
        status, submit = self.quota(status_quota), self.quota(submit_quota)
        per_submission = (status.effective_limit / status.window_s) / (
            submit.effective_limit / submit.window_s
        )
        return per_submission * (1.0 - self.check_reserve)


def settings_from_config(config: Config) -> PipelineSettings:
    """The pipeline's view of the configuration."""
    q = config.quotas
    # A request reaches the service a little after the ledger recorded it: each window is
    # lengthened by the margin (see QuotasConfig), the daily one in the same proportion.
    window = q.counted_window_s(config.speechkit.request_timeout_s)
    stretch = window / q.window_s
    return PipelineSettings(
        output_root=config.paths.output,
        key_prefix=config.storage.prefix,
        delete_after_done=config.storage.delete_after_done,
        quotas={
            quota.SUBMIT_QUOTA: quota.QuotaSpec(q.submissions, window, margin=q.safety_margin),
            quota.STATUS_QUOTA: quota.QuotaSpec(q.status_checks, window, margin=q.safety_margin),
            quota.V3_STATUS_QUOTA: per_second(q.v3_status_checks_per_second, q.safety_margin),
            quota.ASR_XML_QUOTA: per_second(q.asr_xml_requests_per_second, q.safety_margin),
            quota.AUDIO_QUOTA: quota.QuotaSpec(
                max(1, int(q.audio_hours_per_day * 3600)), DAY_S * stretch, margin=q.safety_margin
            ),
        },
        api_concurrency={"asr_xml": config.concurrency.asr_xml_requests},
        results_ttl_s=config.speechkit.results_ttl_s,
        delete_results_after_done=config.speechkit.delete_results_after_done,
        uploads=config.concurrency.uploads,
        operations_in_flight=config.concurrency.operations_in_flight,
        fetches=config.concurrency.fetches,
        upload_ahead=config.concurrency.upload_ahead,
        retry=retry_policy(config.retry),
        polling=polling_policy(config.polling),
        initial_ratio=config.polling.initial_ratio,
        checks_per_job=config.polling.checks_per_job,
        check_reserve=config.polling.check_reserve,
        lease_s=config.service.lease_s,
        node=config.service.node,
        outputs_prefix=config.outputs.s3_prefix,
        outputs_local=config.outputs.local,
        timestamp_resolution_s=config.polling.timestamp_resolution_s,
        input_roots=InputRoots.of(config),
    )
