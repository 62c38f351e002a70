"""The daemon's configuration as typed, frozen objects: every key and its default.

``config.example.yaml`` documents them; ``config.loader`` reads and checks a file into them.
Secrets are never written inline: each is named by an environment variable (``*_env``), a
file (``*_file``) or a systemd credential (``*_credential``), wrapped in :class:`Secret`
and registered for log redaction.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from orchestrator.core import constants as c
from orchestrator.core.backoff import RetryPolicy
from orchestrator.core.errors import Problem, UserInputError
from orchestrator.core.hooks import HookPolicy, OnFinish
from orchestrator.telemetry.logs import register_secret

LogFormat = Literal["auto", "json", "console"]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]
# The default window margin is at most this share of the window: at least 99% of a quota.
WINDOW_MARGIN_SHARE = 0.01
LOG_FORMATS: tuple[LogFormat, ...] = ("auto", "json", "console")
LOG_LEVELS: tuple[LogLevel, ...] = ("debug", "info", "warning", "error", "critical")


class Secret:
    """A credential: prints as ``***`` everywhere; ``reveal()`` is the only way to the value."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str = "") -> None:
        self._value = value
        self.source = source  # where it came from ("env SPEECHKIT_API_KEY"), safe to show
        register_secret(value)

    def reveal(self) -> str:
        """The secret value, for the one place that sends it (a header, a client)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class SpeechKitConfig:
    """Endpoints and credentials of the recognition service."""

    transcribe_url: str = c.TRANSCRIBE_URL
    operation_url: str = c.OPERATION_URL
    stt_v3_url: str = c.STT_V3_URL
    asr_xml_url: str = c.ASR_XML_URL
    api_key: Secret | None = None
    iam_token: Secret | None = None
    folder_id: str | None = None  # sent as x-folder-id (needed with a user's IAM token)
    request_timeout_s: float = 30.0
    # How long the service keeps a finished operation's results: a 404 from a younger
    # operation is not an expiry (and is never resubmitted).
    results_ttl_s: float = c.RESULT_TTL_S
    # API v3: deleteRecognition once a job's outputs are on disk.
    delete_results_after_done: bool = False

    def auth_header(self) -> dict[str, str]:
        """The Authorization header (and x-folder-id when set); UserInputError without a key."""
        if self.api_key is not None:
            headers = {"Authorization": f"Api-Key {self.api_key.reveal()}"}
        elif self.iam_token is not None:
            headers = {"Authorization": f"Bearer {self.iam_token.reveal()}"}
        else:
            raise UserInputError(
                [
                    Problem(
                        "config",
                        "no credential: set api_key_env, api_key_file or api_key_credential "
                        "(or the iam_token_* equivalents)",
                        field="speechkit",
                    )
                ]
            )
        if self.folder_id:
            headers["x-folder-id"] = self.folder_id
        return headers


@dataclass(frozen=True)
class StorageConfig:
    """The S3-compatible bucket the audio is uploaded to and SpeechKit fetches from."""

    bucket: str
    endpoint_url: str = c.STORAGE_URL
    region: str = c.STORAGE_REGION
    prefix: str = "speechkit-orchestrator/"
    access_key_id: Secret | None = None
    secret_access_key: Secret | None = None
    public_url_base: str = c.STORAGE_URL
    delete_after_done: bool = True
    multipart_threshold_bytes: int = 64 * 1024 * 1024
    multipart_chunk_bytes: int = 16 * 1024 * 1024


@dataclass(frozen=True)
class QuotaRate:
    """``quotas.rates.<name>``: any quota by its name, ``limit`` per ``window_s`` seconds."""

    limit: float
    window_s: float
    line: int | None = field(default=None, compare=False)  # where it is set, for messages


@dataclass(frozen=True)
class QuotasConfig:
    """Service quotas: requests per sliding window, audio per day, and the margins kept.

    The ledger records each request in the transaction that hands it to a stage, right
    before it is sent, so the service counts it at most the request's latency later: the
    window is lengthened by ``window_margin_s`` to cover that (by default the request
    timeout, an upper bound on it since a request is abandoned then, capped at 1% of the
    window so that at least 99% of the quota is used). ``safety_margin`` leaves a share of
    each quota unused, for other clients of the same cloud folder: none by default.
    """

    submissions: int = c.SUBMIT_QUOTA_PER_HOUR
    status_checks: int = c.V2_STATUS_QUOTA_PER_HOUR
    window_s: float = c.QUOTA_WINDOW_S
    audio_hours_per_day: float = float(c.AUDIO_HOURS_PER_DAY)
    safety_margin: float = 0.0
    window_margin_s: float | None = None  # None until loaded: see ``margin_s``
    v3_status_checks_per_second: float = float(c.V3_STATUS_PER_SECOND)
    # The legacy asr_xml API's request rate was never published: today's synchronous
    # recognition quota is assumed.
    asr_xml_requests_per_second: float = float(c.SYNC_REQUESTS_PER_SECOND)
    # Any quota by its name (``status``, ``status_v3``...): wins over the key above that
    # sets the same quota.
    rates: Mapping[str, QuotaRate] = field(default_factory=dict)

    def usable(self, quota: int) -> int:
        """``quota`` less the safety margin, at least 1."""
        return max(1, int(quota * (1.0 - self.safety_margin)))

    def margin_s(self, request_timeout_s: float = 30.0) -> float:
        """Seconds added to each sliding window (the configured value, else the default)."""
        if self.window_margin_s is not None:
            return self.window_margin_s
        return min(request_timeout_s, WINDOW_MARGIN_SHARE * self.window_s)

    def counted_window_s(self, request_timeout_s: float = 30.0) -> float:
        """The window the ledger counts requests in: the service's plus the margin."""
        return self.window_s + self.margin_s(request_timeout_s)


@dataclass(frozen=True)
class ConcurrencyConfig:
    """How many things run at once."""

    uploads: int = 4
    operations_in_flight: int = 200
    fetches: int = 4
    # Jobs uploaded (or being uploaded) ahead of their submission; None: one submission
    # quota window's worth, so objects do not sit in the bucket for days.
    upload_ahead: int | None = None
    asr_xml_requests: int = 10  # asr_xml requests waiting for their answer at once
    # Requests waiting for their answer at once, by API: wins over a key above for it.
    requests: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PathsConfig:
    """Local files and directories (absolute after loading)."""

    state_file: Path = Path("state/orchestrator.sqlite3")
    inbox: Path = Path("inbox")
    processed: Path = Path("processed")
    failed: Path = Path("failed")
    output: Path = Path("results")
    # The directories local audio may come from, resolved (symlinks included). The loader
    # always names at least one (the config file's directory by default); empty only in a
    # PathsConfig built in code, where nothing is checked.
    input_roots: tuple[Path, ...] = ()


@dataclass(frozen=True)
class RetryConfig:
    """Exponential backoff with full jitter for retryable errors."""

    max_attempts: int = 8
    base_delay_s: float = 2.0
    max_delay_s: float = 300.0


@dataclass(frozen=True)
class PollingConfig:
    """When to check an operation: first at the estimated finish, then growing intervals."""

    initial_ratio: float = c.PROCESSING_S_PER_AUDIO_S
    quantile: float = 0.9
    growth: float = 1.5
    min_interval_s: float = 1.0
    max_interval_s: float = 120.0
    deferred_max_interval_s: float = 1800.0
    # Status checks a job may cost on average: None ("auto") takes what the quotas allow
    # (status checks per submission) less ``check_reserve``; 0 turns the planned schedule
    # off (one check at the ``quantile``, then growing intervals).
    checks_per_job: float | None = None
    check_reserve: float = 0.1
    # The resolution of the service's operation timestamps (whole seconds at the real one).
    timestamp_resolution_s: float = 1.0


@dataclass(frozen=True)
class LoggingConfig:
    """Log format (auto: console on a terminal, JSON lines otherwise) and level."""

    format: LogFormat = "auto"
    level: LogLevel = "info"


@dataclass(frozen=True)
class StatusConfig:
    """The loopback HTTP status endpoint; ``listen_port`` None turns it off, 0 picks a port."""

    listen_host: str = "127.0.0.1"
    listen_port: int | None = 8787


def _hostname() -> str:
    return os.uname().nodename


@dataclass(frozen=True)
class ServiceConfig:
    """systemd integration, and this daemon's place among others sharing a store."""

    drain_timeout_s: float = 30.0
    watchdog: bool = True
    # This daemon's name among those sharing a store: local audio taken in here is
    # uploaded (and its results written) only by a daemon of the same node.
    node: str = field(default_factory=_hostname)
    # How long a claim holds a job; a dead daemon's jobs are taken over after this.
    lease_s: float = 60.0


@dataclass(frozen=True)
class StateConfig:
    """Where the state store is: ``url`` None is the SQLite file ``paths.state_file``;
    a ``postgresql://`` URL (the loader refuses one holding a password) is a PostgreSQL
    database, with ``password`` read like every secret."""

    url: str | None = None
    password: Secret | None = None


@dataclass(frozen=True)
class OutputsConfig:
    """Where transcripts and reports go: ``paths.output`` on the node that took the
    manifest in; or, with ``s3_prefix``, objects under it in the storage bucket, written
    by any node, and with ``local`` as well the local files first, then the same set as
    objects (by the manifest's node, whose disk holds the files)."""

    s3_prefix: str | None = None
    local: bool = True  # files under paths.output (always, without s3_prefix)

    @property
    def objects_only(self) -> bool:
        """Results only as objects: any node may write them."""
        return self.s3_prefix is not None and not self.local


@dataclass(frozen=True)
class HooksConfig:
    """What runs when a manifest finishes: ``on_finish`` for every manifest, and what a
    manifest's own ``on_finish:`` may ask for (``manifest_commands``: the programs it may
    run; ``manifest_webhooks``: the URLs it may POST under; none by default). Webhooks are
    signed with ``secret``; failed attempts are retried with backoff."""

    on_finish: OnFinish = field(default_factory=OnFinish)
    secret: Secret | None = None
    command_timeout_s: float = 60.0
    webhook_timeout_s: float = 10.0
    max_attempts: int = 8
    base_delay_s: float = 5.0
    max_delay_s: float = 600.0
    manifest_commands: tuple[str, ...] = ()
    manifest_webhooks: tuple[str, ...] = ()

    @property
    def policy(self) -> HookPolicy:
        """What manifests may ask for."""
        return HookPolicy(commands=self.manifest_commands, webhooks=self.manifest_webhooks)

    @property
    def retry(self) -> RetryPolicy:
        """How failed attempts are retried."""
        return RetryPolicy(
            max_attempts=self.max_attempts,
            base_delay_s=self.base_delay_s,
            max_delay_s=self.max_delay_s,
        )


@dataclass(frozen=True)
class Config:
    """The whole daemon configuration."""

    storage: StorageConfig
    speechkit: SpeechKitConfig = field(default_factory=SpeechKitConfig)
    quotas: QuotasConfig = field(default_factory=QuotasConfig)
    concurrency: ConcurrencyConfig = field(default_factory=ConcurrencyConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    retry: RetryConfig = field(default_factory=RetryConfig)
    polling: PollingConfig = field(default_factory=PollingConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    status: StatusConfig = field(default_factory=StatusConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    state: StateConfig = field(default_factory=StateConfig)
    outputs: OutputsConfig = field(default_factory=OutputsConfig)
    hooks: HooksConfig = field(default_factory=HooksConfig)
    source: str = "<defaults>"  # the config file, for messages
    base_dir: Path = Path()  # relative paths were resolved against this
    # Files the config names as secrets (``*_file``): never to be read as audio.
    secret_files: tuple[Path, ...] = ()
    # What is allowed but unwise (a secret file others may read): said at start, not fatal.
    warnings: tuple[Problem, ...] = ()
