"""The daemon's configuration as typed, frozen objects: every key and its default.

Each key is declared once, here, with its default and its line in the reference
(``config.fields``): the loader's key lists, the reference's table (``config.docs``) and
the pipeline's defaults derive from it; a test checks ``config.example.yaml`` against it.
``config.loader`` reads and checks a file into these objects.
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

from orchestrator.config.fields import (
    required,
    secret_setting,
    section,
    setting,
    setting_factory,
)
from orchestrator.core import constants as c
from orchestrator.core.backoff import RetryPolicy
from orchestrator.core.errors import Problem, UserInputError
from orchestrator.core.hooks import HookPolicy, OnFinish
from orchestrator.core.settings import MAX_PRIORITY, MIN_PRIORITY
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
class AuthorizedKey:
    """A service account's authorized key (the JSON ``yc iam key create`` writes): IAM
    tokens are made from it as they are needed."""

    key_id: str  # the JSON's `id`: the JWT's `kid`
    service_account_id: str  # the JWT's `iss`
    private_key: Secret  # PEM, PS256-signs the JWT
    source: str = ""  # where it came from, safe to show


@dataclass(frozen=True)
class SpeechKitConfig:
    """Endpoints and credentials of the recognition service."""

    transcribe_url: str = setting(c.TRANSCRIBE_URL, "API v2's recognition requests")
    operation_url: str = setting(c.OPERATION_URL, "operations of API v2")
    stt_v3_url: str = setting(c.STT_V3_URL, "API v3")
    asr_xml_url: str = setting(c.ASR_XML_URL, "the asr_xml API")
    api_key: Secret | None = secret_setting("or `iam_token_*`; `asr_xml` takes an API key only")
    iam_token: Secret | None = secret_setting(
        "or `api_key_*`; an `iam_token_file` is read again whenever it changes"
    )
    authorized_key: AuthorizedKey | None = secret_setting(
        "a service account's authorized key (the JSON of `yc iam key create`): IAM tokens "
        "renewed from it"
    )
    metadata_token: bool = setting(
        False, "IAM tokens renewed from the metadata service of the VM the daemon runs on"
    )
    iam_url: str = setting(c.IAM_TOKENS_URL, "where an authorized key's JWT gets an IAM token")
    metadata_url: str = setting(c.METADATA_URL, "the VM metadata service")
    folder_id: str | None = setting(None, "sent as `x-folder-id`; a user's IAM token needs it")
    request_timeout_s: float = setting(30.0, "seconds per HTTP request")
    # How long the service keeps a finished operation's results: a 404 from a younger
    # operation is not an expiry (and is never resubmitted).
    results_ttl_s: float = setting(
        c.RESULT_TTL_S,
        "how long the service keeps results; a 404 from a younger operation is not an "
        "expiry and is never resubmitted",
    )
    delete_results_after_done: bool = setting(
        False, "API v3: `deleteRecognition` once the outputs are on disk"
    )
    # The file `iam_token_file` (or the credential) named: read again when it changes.
    iam_token_path: Path | None = None

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

    bucket: str = required("the bucket the audio is uploaded to")
    endpoint_url: str = setting(c.STORAGE_URL, "the S3 API endpoint")
    region: str = setting(c.STORAGE_REGION)
    prefix: str = setting("speechkit-orchestrator/", "key prefix of uploaded objects, relative")
    access_key_id: Secret | None = secret_setting(
        "with `secret_access_key_*`, or neither: the usual AWS_* chain"
    )
    secret_access_key: Secret | None = secret_setting()
    public_url_base: str = setting(
        c.STORAGE_URL, "the link SpeechKit fetches is `<public_url_base>/<bucket>/<key>`"
    )
    delete_after_done: bool = setting(True, "delete the object once the transcript is saved")
    multipart_threshold_bytes: int = setting(
        64 * 1024 * 1024, "larger files use multipart upload", unit="bytes"
    )
    multipart_chunk_bytes: int = setting(16 * 1024 * 1024, "at least 5 MiB", unit="bytes")
    # Beside `bucket`, where a manifest's `s3://` audio may already be: the daemon reads
    # it with the service account's rights, so no other bucket is taken.
    source_buckets: tuple[str, ...] = setting(
        (), "more buckets (or `bucket/prefix`) a manifest's `s3://` audio may come from"
    )


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

    submissions: int = setting(
        c.SUBMIT_QUOTA_PER_HOUR, "recognition requests per window, v2 and v3"
    )
    status_checks: int = setting(
        c.V2_STATUS_QUOTA_PER_HOUR, "operation status checks per window, v2"
    )
    window_s: float = setting(c.QUOTA_WINDOW_S, "the sliding window, seconds")
    audio_hours_per_day: float = setting(float(c.AUDIO_HOURS_PER_DAY), "billable audio hours")
    safety_margin: float = setting(
        0.0, "share of each quota left unused, for other clients of the same folder; 0..0.5"
    )
    # None until loaded: see ``margin_s``.
    window_margin_s: float | None = setting(
        None,
        "seconds added to every window for the requests' latency",
        shown="auto: the request timeout, at most 1% of the window",
    )
    v3_status_checks_per_second: float = setting(
        float(c.V3_STATUS_PER_SECOND), "operation checks and `getRecognition`, v3"
    )
    # The legacy asr_xml API's request rate was never published: today's synchronous
    # recognition quota is assumed.
    asr_xml_requests_per_second: float = setting(
        float(c.SYNC_REQUESTS_PER_SECOND), "never published; today's synchronous quota"
    )
    # Any quota by its name (``status``, ``status_v3``...): wins over the key above that
    # sets the same quota.
    rates: Mapping[str, QuotaRate] = setting_factory(
        dict,
        "any quota by its name, `{limit, window_s}`; wins over its key (see below)",
        shown="none",
    )

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

    uploads: int = setting(4, "simultaneous uploads")
    operations_in_flight: int = setting(200, "submitted operations not yet fetched")
    fetches: int = setting(4, "simultaneous result downloads")
    # Jobs uploaded (or being uploaded) ahead of their submission; None: one submission
    # quota window's worth, so objects do not sit in the bucket for days.
    upload_ahead: int | None = setting(
        None,
        "jobs uploaded ahead of their submission",
        shown="auto: one submission window's worth",
    )
    asr_xml_requests: int = setting(
        10, "asr_xml requests waiting for their answer at once, across daemons sharing the store"
    )
    # Conversions run in worker processes, one file each; None: one fewer than the cores.
    conversions: int | None = setting(
        None,
        "simultaneous audio conversions (worker processes)",
        shown="auto: one fewer than the cores, at least 1",
    )
    # Requests waiting for their answer at once, by API: wins over a key above for it.
    requests: Mapping[str, int] = setting_factory(
        dict, "a cap by API name; wins over its key (see below)", shown="none"
    )


@dataclass(frozen=True)
class PathsConfig:
    """Local files and directories (absolute after loading)."""

    state_file: Path = setting(Path("state/orchestrator.sqlite3"), "the SQLite state store")
    inbox: Path = setting(Path("inbox"), "manifests dropped here are picked up")
    processed: Path = setting(Path("processed"), "accepted manifests are moved here")
    failed: Path = setting(Path("failed"), "rejected manifests are moved here, with the reason")
    output: Path = setting(Path("results"), "transcripts: `<output>/<manifest name>/<output>.*`")
    conversions: Path = setting(
        Path("state/converted"), "converted audio waiting for its upload (removed after it)"
    )
    # The directories local audio may come from, resolved (symlinks included). The loader
    # always names at least one (the config file's directory by default); empty only in a
    # PathsConfig built in code, where nothing is checked.
    input_roots: tuple[Path, ...] = setting(
        (),
        "a list; see [Input roots](#input-roots-where-audio-may-come-from)",
        shown="the config file's directory",
    )


@dataclass(frozen=True)
class IntakeConfig:
    """What a manifest dropped in the inbox may ask of the daemon."""

    max_priority: int = setting(
        MAX_PRIORITY,
        f"the highest `priority` a manifest may ask for, {MIN_PRIORITY} to {MAX_PRIORITY}",
    )
    # A recorder writes a file for minutes: a standing manifest takes it only once its
    # size and time have not changed for this long.
    watch_settle_s: float = setting(
        5.0, "a standing manifest takes a new file once unchanged this long", unit="s"
    )
    # Walking a folder of 100,000 files costs about a second: not at every tick.
    watch_rescan_s: float = setting(
        10.0,
        "how often a standing manifest's folders are walked again for new files",
        unit="s",
    )


@dataclass(frozen=True)
class AudioConfig:
    """How recordings are made ready for the service: what is converted (a manifest's
    ``convert:``) and how long a part of a split recording may be."""

    # None: each API's own limit (4 h for v2 and v3, 30 s for asr_xml). Lower, a long
    # recording is recognised in more parts at once: sooner done, at the same price.
    max_part_s: float | None = setting(
        None,
        "recordings longer than this are split into parts, at quiet moments",
        shown="the API's limit",
        unit="s",
    )


@dataclass(frozen=True)
class RetryConfig:
    """Exponential backoff with full jitter for retryable errors."""

    max_attempts: int = setting(
        8, "also the most submissions of one job whose recognition the service failed itself"
    )
    base_delay_s: float = setting(2.0, "the first delay")
    max_delay_s: float = setting(300.0, "at least `base_delay_s`")


@dataclass(frozen=True)
class PollingConfig:
    """When to check an operation: first at the estimated finish, then growing intervals."""

    initial_ratio: float = setting(
        c.PROCESSING_S_PER_AUDIO_S, "seconds of processing per audio second, until learned"
    )
    quantile: float = setting(
        0.9, "quantile of the processing times (over the fitted overhead + rate) used; in (0, 1]"
    )
    growth: float = setting(1.5, "interval multiplier between checks, >= 1")
    min_interval_s: float = setting(1.0)
    max_interval_s: float = setting(120.0, "cap for general models")
    deferred_max_interval_s: float = setting(1800.0, "cap for deferred-general")
    # Status checks a job may cost on average: None ("auto") takes what the quotas allow
    # (status checks per submission) less ``check_reserve``; 0 turns the planned schedule
    # off (one check at the ``quantile``, then growing intervals).
    checks_per_job: float | None = setting(
        None,
        "0: no planned schedule",
        shown="auto: status checks the quotas allow per submission, less `check_reserve`",
    )
    check_reserve: float = setting(0.1, "share of the status quota kept for retries")
    # The resolution of the service's operation timestamps (whole seconds at the real one).
    timestamp_resolution_s: float = setting(
        1.0,
        "the service's `createdAt`/`modifiedAt` are whole seconds, so a processing time read "
        "from them is an interval; 1/speed against the emulator",
    )


@dataclass(frozen=True)
class LoggingConfig:
    """Log format (auto: console on a terminal, JSON lines otherwise) and level."""

    format: LogFormat = setting(
        "auto", "console on a terminal, JSON lines otherwise; or json, console"
    )
    level: LogLevel = setting("info", "debug, info, warning, error or critical")


@dataclass(frozen=True)
class StatusConfig:
    """The loopback HTTP status endpoint; ``listen_port`` None turns it off, 0 picks a port."""

    listen_host: str = setting("127.0.0.1", "keep it on loopback")
    listen_port: int | None = setting(8787, "0: any free port; null: off")
    # A Unix socket (mode 0660) instead of, or beside, the port: the choice under systemd,
    # where only the socket's group can reach it.
    listen_unix: str | None = setting(
        None, "a Unix socket path (mode 0660); with listen_port null, the only listener"
    )
    max_connections: int = setting(64, "open connections at most; those past it are closed")
    header_timeout_s: float = setting(10.0, "seconds for a request's headers to arrive")
    keepalive_timeout_s: float = setting(15.0, "seconds an idle keep-alive connection stays")


def _hostname() -> str:
    return os.uname().nodename


@dataclass(frozen=True)
class ServiceConfig:
    """systemd integration, and this daemon's place among others sharing a store."""

    drain_timeout_s: float = setting(30.0, "on stop, seconds to finish in-flight steps")
    watchdog: bool = setting(True, "ping systemd's watchdog when `WatchdogSec=` is set")
    # This daemon's name among those sharing a store: local audio taken in here is
    # uploaded (and its results written) only by a daemon of the same node.
    node: str = setting_factory(
        _hostname,
        "1-63 of A-Z a-z 0-9 . _ -; this daemon's name among those sharing a store",
        shown="the host name",
    )
    # How long a claim holds a job; a dead daemon's jobs are taken over after this.
    lease_s: float = setting(60.0, "1-3600; a dead daemon's jobs are taken over after this")


@dataclass(frozen=True)
class StateConfig:
    """Where the state store is: ``url`` None is the SQLite file ``paths.state_file``;
    a ``postgresql://`` URL (the loader refuses one holding a password) is a PostgreSQL
    database, with ``password`` read like every secret. ``migrate`` False: a daemon whose
    role may not change the schema checks it instead of bringing it up to date."""

    url: str | None = setting(
        None,
        "`postgresql://USER@HOST[:PORT]/DB`, never with a password in it",
        shown="none: the SQLite file `paths.state_file`",
    )
    password: Secret | None = secret_setting()
    migrate: bool = setting(
        True,
        "false: never change the schema, refuse an old one: a role that only reads and "
        "writes rows, with `migrate` run as the owner (PostgreSQL)",
    )


@dataclass(frozen=True)
class OutputsConfig:
    """Where transcripts and reports go: ``paths.output`` on the node that took the
    manifest in; or, with ``s3_prefix``, objects under it in the storage bucket, written
    by any node, and with ``local`` as well the local files first, then the same set as
    objects (by the manifest's node, whose disk holds the files)."""

    s3_prefix: str | None = setting(
        None,
        "a prefix: objects in `storage.bucket`",
        shown="none: results and reports under `paths.output` only",
    )
    # Files under paths.output (always, without s3_prefix).
    local: bool = setting(
        True,
        "with `s3_prefix`, true writes the files under `paths.output` first, then the same "
        "set as objects; `false` without `s3_prefix` is refused",
        shown="true; false with `s3_prefix`",
    )

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

    on_finish: OnFinish = setting_factory(
        OnFinish,
        "an argv list and a URL, for every manifest",
        shown="none",
        keys=("command", "webhook"),
    )
    secret: Secret | None = secret_setting("needed by webhooks")
    command_timeout_s: float = setting(60.0, "the command is killed after this, and retried")
    webhook_timeout_s: float = setting(10.0, "per attempt")
    max_attempts: int = setting(8)
    base_delay_s: float = setting(5.0)
    max_delay_s: float = setting(600.0)
    manifest_commands: tuple[str, ...] = setting((), "the programs a manifest's command may run")
    manifest_webhooks: tuple[str, ...] = setting((), "the URLs a manifest's webhook may POST under")

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

    # The file's sections, in the order they are read and documented.
    speechkit: SpeechKitConfig = section(SpeechKitConfig)
    storage: StorageConfig = section(StorageConfig, needed=True)
    quotas: QuotasConfig = section(QuotasConfig)
    concurrency: ConcurrencyConfig = section(ConcurrencyConfig)
    paths: PathsConfig = section(PathsConfig)
    intake: IntakeConfig = section(IntakeConfig)
    audio: AudioConfig = section(AudioConfig, "see [Audio in any format](#audio-in-any-format)")
    retry: RetryConfig = section(
        RetryConfig,
        "a 429 without `Retry-After` pauses its quota `base_delay_s`, doubled with each 429 "
        "in a row, up to `max_delay_s` (at least 1 s)",
    )
    polling: PollingConfig = section(PollingConfig)
    logging: LoggingConfig = section(LoggingConfig)
    status: StatusConfig = section(StatusConfig)
    service: ServiceConfig = section(ServiceConfig)
    state: StateConfig = section(StateConfig)
    outputs: OutputsConfig = section(OutputsConfig)
    hooks: HooksConfig = section(HooksConfig, "see [Completion hooks](#completion-hooks)")
    source: str = "<defaults>"  # the config file, for messages
    base_dir: Path = Path()  # relative paths were resolved against this
    # Files the config names as secrets (``*_file``) and $CREDENTIALS_DIRECTORY: never audio.
    secret_files: tuple[Path, ...] = ()
    # What is allowed but unwise (a secret file others may read): said at start, not fatal.
    warnings: tuple[Problem, ...] = ()
