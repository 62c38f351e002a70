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
from orchestrator.config.schema import WINDOW_MARGIN_SHARE
from orchestrator.core import quota
from orchestrator.core.apis import ApiCatalogue, QuotaDecl, QuotaKind
from orchestrator.core.backoff import RetryPolicy
from orchestrator.core.errors import Problem, UserInputError
from orchestrator.core.polling import PollingPolicy
from orchestrator.intake.roots import InputRoots
from orchestrator.speechkit.catalogue import CATALOGUE

# The config's defaults, which settings built in code (tests, benches) start from: the
# schema is the one place a default is written.
_SPEECHKIT = SpeechKitConfig()
_STORAGE = StorageConfig(bucket="")
_CONCURRENCY = ConcurrencyConfig()
_POLLING = PollingConfig()
_SERVICE = ServiceConfig()
_OUTPUTS = OutputsConfig()
# How late after its claim a request may reach the service, at most (see ``per_second``).
SEND_SLACK_S = 0.25


def default_quotas(apis: ApiCatalogue = CATALOGUE) -> dict[str, quota.QuotaSpec]:
    """The service's documented quotas of every API in ``apis``, with no margin."""
    found: dict[str, quota.QuotaSpec] = {}
    for name, decl in apis.quotas().items():
        if decl.kind is QuotaKind.RATE:
            found[name] = per_second(decl.limit / decl.window_s, 0.0)
        else:
            found[name] = quota.QuotaSpec(max(1, int(decl.limit)), decl.window_s)
    return found


def default_concurrency(apis: ApiCatalogue = CATALOGUE) -> dict[str, int]:
    """Each capped API's default cap on its requests waiting for their answer at once."""
    return {name: spec.concurrency.default for name, spec in apis.items() if spec.concurrency}


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
    # The APIs the daemon drives: what each spends, how the ETA counts them.
    apis: ApiCatalogue = field(default_factory=lambda: CATALOGUE)
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
    api_concurrency: Mapping[str, int] = field(default_factory=default_concurrency)
    results_ttl_s: float = _SPEECHKIT.results_ttl_s
    delete_results_after_done: bool = _SPEECHKIT.delete_results_after_done
    # The resolution of the service's createdAt/modifiedAt (whole seconds).
    timestamp_resolution_s: float = _POLLING.timestamp_resolution_s
    # Checked again right before a file is read (None: not checked, in tests built in code).
    input_roots: InputRoots | None = None
    # Audio conversions at once (worker processes; None: one per core), where converted
    # files wait for their upload (None: beside the output directory), and the longest
    # part of a split recording (None: each API's limit).
    conversions: int | None = _CONCURRENCY.conversions
    conversions_path: Path | None = None
    max_part_s: float | None = None

    @property
    def conversions_dir(self) -> Path:
        """Where converted files wait for their upload."""
        if self.conversions_path is not None:
            return self.conversions_path
        return self.output_root.parent / ".converted"

    def quota(self, name: str) -> quota.QuotaSpec:
        """The spec of the quota called ``name`` (KeyError for a quota nobody configured)."""
        return self.quotas[name]

    def uploads_ahead(self) -> int:
        """How many jobs may wait uploaded for their submission: uploads run just ahead of
        the submission quota, so an object does not sit in the bucket for days and a
        cancelled manifest leaves little to clean up."""
        if self.upload_ahead is not None:
            return self.upload_ahead
        return self.quota(self.apis.default.submit_quota).effective_limit

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


def _refuse_unknown(
    given: Mapping[str, object],
    known: Mapping[str, object],
    path: str,
    source: str,
    lines: Mapping[str, int | None],
) -> None:
    """A config map keyed by quota or API names may name only those of the catalogue
    (``source`` is the config file, for the message)."""
    unknown = sorted(set(given) - set(known))
    if unknown:
        names = ", ".join(known)
        raise UserInputError(
            [
                Problem(
                    source,
                    f"unknown name {name}; known: {names}",
                    line=lines.get(name),
                    field=f"{path}.{name}",
                )
                for name in unknown
            ]
        )


def _counted(q: QuotasConfig, window_s: float, request_timeout_s: float) -> float:
    """``window_s`` lengthened by the margin that covers a request's way to the service
    (``QuotasConfig.counted_window_s``'s rule, for a window of its own)."""
    margin = q.window_margin_s
    if margin is None:
        margin = min(request_timeout_s, WINDOW_MARGIN_SHARE * window_s)
    return window_s + margin


def _figures(decl: QuotaDecl, q: QuotasConfig) -> tuple[float, float]:
    """A quota's configured ``(limit, window_s)``: ``quotas.rates.<name>`` when given, else
    its own key (a WINDOW quota's window is ``quotas.window_s``), else its defaults."""
    rate = q.rates.get(decl.name)
    if rate is not None:
        return rate.limit, rate.window_s
    limit = decl.limit
    if decl.config_key is not None:
        limit = getattr(q, decl.config_key) * decl.config_scale
    window = q.window_s if decl.kind is QuotaKind.WINDOW else decl.window_s
    return limit, window


def quota_specs(
    apis: ApiCatalogue,
    q: QuotasConfig,
    request_timeout_s: float = 30.0,
    source: str = "<defaults>",
) -> dict[str, quota.QuotaSpec]:
    """The spec of every quota the APIs spend under the configured figures and margins:
    the one derivation the daemon and ``plan`` share."""
    lines = {name: rate.line for name, rate in q.rates.items()}
    _refuse_unknown(q.rates, apis.quotas(), "quotas.rates", source, lines)
    found: dict[str, quota.QuotaSpec] = {}
    for name, decl in apis.quotas().items():
        limit, window = _figures(decl, q)
        if decl.kind is QuotaKind.RATE:
            found[name] = per_second(limit / window, q.safety_margin)
        elif decl.kind is QuotaKind.DAILY:
            # The daily window is lengthened in the same proportion as the others.
            stretch = q.counted_window_s(request_timeout_s) / q.window_s
            found[name] = quota.QuotaSpec(
                max(1, int(limit)), window * stretch, margin=q.safety_margin
            )
        else:
            counted = _counted(q, window, request_timeout_s)
            found[name] = quota.QuotaSpec(max(1, int(limit)), counted, margin=q.safety_margin)
    return found


def api_concurrency(
    apis: ApiCatalogue, conc: ConcurrencyConfig, source: str = "<defaults>"
) -> dict[str, int]:
    """Each API's cap on its requests waiting at once: ``concurrency.requests.<api>`` when
    given, else its own key, else its default; an API with neither has none."""
    _refuse_unknown(conc.requests, apis, "concurrency.requests", source, {})
    caps: dict[str, int] = {}
    for name, spec in apis.items():
        if name in conc.requests:
            caps[name] = conc.requests[name]
        elif spec.concurrency is not None:
            key = spec.concurrency.config_key
            caps[name] = spec.concurrency.default if key is None else getattr(conc, key)
    return caps


def settings_from_config(config: Config, apis: ApiCatalogue = CATALOGUE) -> PipelineSettings:
    """The pipeline's view of the configuration, for the APIs of ``apis``."""
    return PipelineSettings(
        output_root=config.paths.output,
        key_prefix=config.storage.prefix,
        delete_after_done=config.storage.delete_after_done,
        apis=apis,
        quotas=quota_specs(apis, config.quotas, config.speechkit.request_timeout_s, config.source),
        api_concurrency=api_concurrency(apis, config.concurrency, config.source),
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
        conversions=config.concurrency.conversions,
        conversions_path=config.paths.conversions,
        max_part_s=config.audio.max_part_s,
    )
