"""Each section of the daemon's config read into its ``config.schema`` object, every
problem collected by the one ``Reader`` of the load (``config.loader`` drives it)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import yaml

from orchestrator.config.authorized_key import parse_authorized_key
from orchestrator.config.hooks import read_hooks
from orchestrator.config.schema import (
    LOG_FORMATS,
    LOG_LEVELS,
    AudioConfig,
    AuthorizedKey,
    ConcurrencyConfig,
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
from orchestrator.config.secrets import SecretReader
from orchestrator.config.yamlload import Reader, Section, join_path, line_of
from orchestrator.core.settings import MAX_PRIORITY, MIN_PRIORITY

MIN_MULTIPART_CHUNK = 5 * 1024 * 1024  # S3's smallest part (except the last)
MAX_CHECKS_PER_JOB = 20.0
# Shorter than this, a part would be mostly the quiet search around its cut.
MIN_PART_S = 10.0
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# A node name goes into lease owners as ``node:pid:token``: no colon, nothing exotic.
_NODE_RE = re.compile(r"[A-Za-z0-9._-]{1,63}")
POSTGRES_SCHEMES = ("postgresql", "postgres")
# The credentials of the speechkit section, of which one is given.
_CREDENTIALS = ("api_key", "iam_token", "authorized_key")


class SectionReader:
    """One config load: the reader collecting problems plus what secrets resolve against."""

    def __init__(
        self,
        reader: Reader,
        base_dir: Path,
        env: Mapping[str, str],
        resolve_secrets: bool,
        resolve_state: bool,
    ) -> None:
        self.r = reader
        self.base_dir = base_dir
        self.secrets = SecretReader(reader, base_dir, env, resolve_secrets)
        self.state_secrets = SecretReader(reader, base_dir, env, resolve_state)

    def path(self, sec: Section, key: str, default: Path) -> Path:
        """A path; relative ones resolve against the config file's directory."""
        raw = sec.string(key, str(default))
        if "\0" in raw:
            sec.reader.problem(sec.node_of(key), sec.field(key), "must not contain a NUL byte")
            raw = str(default)
        path = Path(raw).expanduser()
        return path if path.is_absolute() else (self.base_dir / path)

    def secret(self, sec: Section, name: str) -> Secret | None:
        """The secret ``name`` from exactly one of its ``_env``/``_file``/``_credential`` keys."""
        return self.secrets.read(sec, name)

    def speechkit(self, sec: Section) -> SpeechKitConfig:
        d = SpeechKitConfig()
        api_key = self.secret(sec, "api_key")
        iam_token = self.secret(sec, "iam_token")
        authorized_key = self.authorized_key(sec)
        metadata_token = sec.boolean("metadata_token", d.metadata_token)
        given = [name for name in _CREDENTIALS if any(k.startswith(name) for k in sec)]
        given += ["metadata_token"] if metadata_token else []
        if len(given) > 1:
            self.r.problem(
                sec.anchor,
                sec.path,
                f"give one credential: {' or '.join(given)} (an api_key_*, an iam_token_*, "
                "an authorized_key_* or metadata_token: true)",
            )
        return SpeechKitConfig(
            transcribe_url=sec.url("transcribe_url", d.transcribe_url),
            operation_url=sec.url("operation_url", d.operation_url),
            stt_v3_url=sec.url("stt_v3_url", d.stt_v3_url),
            asr_xml_url=sec.url("asr_xml_url", d.asr_xml_url),
            api_key=api_key,
            iam_token=iam_token,
            authorized_key=authorized_key,
            metadata_token=metadata_token,
            iam_url=sec.url("iam_url", d.iam_url),
            metadata_url=sec.url("metadata_url", d.metadata_url),
            iam_token_path=self.secrets.paths.get("iam_token") if iam_token else None,
            folder_id=sec.optional_string("folder_id"),
            request_timeout_s=sec.positive_number("request_timeout_s", d.request_timeout_s),
            results_ttl_s=sec.positive_number("results_ttl_s", d.results_ttl_s),
            delete_results_after_done=sec.boolean(
                "delete_results_after_done", d.delete_results_after_done
            ),
        )

    def authorized_key(self, sec: Section) -> AuthorizedKey | None:
        """The service account's authorized key, its JSON checked (errors name the file)."""
        secret = self.secret(sec, "authorized_key")
        if secret is None:
            return None
        try:
            return parse_authorized_key(secret.reveal(), secret.source)
        except ValueError as exc:
            key = next(k for k in sec if k.startswith("authorized_key"))
            self.r.problem(
                sec.node_of(key), sec.field(key), f"the authorized key from {secret.source}: {exc}"
            )
            return None

    def storage(self, sec: Section) -> StorageConfig:
        d = StorageConfig(bucket="")
        bucket = sec.optional_string("bucket") or ""
        if "bucket" not in sec:
            self.r.problem(sec.anchor, "storage.bucket", "missing: the bucket the audio goes to")
        elif bucket and not _BUCKET_RE.fullmatch(bucket):
            self.r.problem(
                sec.node_of("bucket"),
                sec.field("bucket"),
                "not a bucket name: 3-63 characters of a-z, 0-9, '.' and '-'",
            )
        prefix = sec.string("prefix", d.prefix, allow_empty=True)
        if prefix.startswith("/") or ".." in prefix.split("/"):
            self.r.problem(
                sec.node_of("prefix"), sec.field("prefix"), "must be relative, without '..'"
            )
            prefix = d.prefix
        access_key_id = self.secret(sec, "access_key_id")
        secret_access_key = self.secret(sec, "secret_access_key")
        has_id = any(k.startswith("access_key_id") for k in sec)
        has_secret = any(k.startswith("secret_access_key") for k in sec)
        if has_id != has_secret:
            self.r.problem(
                sec.anchor,
                sec.path,
                "give both access_key_id_* and secret_access_key_*, or neither",
            )
        threshold = sec.positive_int("multipart_threshold_bytes", d.multipart_threshold_bytes)
        chunk = sec.integer(
            "multipart_chunk_bytes", d.multipart_chunk_bytes, minimum=MIN_MULTIPART_CHUNK
        )
        return StorageConfig(
            bucket=bucket,
            endpoint_url=sec.url("endpoint_url", d.endpoint_url),
            region=sec.string("region", d.region),
            prefix=prefix,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            public_url_base=sec.url("public_url_base", d.public_url_base),
            delete_after_done=sec.boolean("delete_after_done", d.delete_after_done),
            multipart_threshold_bytes=threshold,
            multipart_chunk_bytes=chunk,
            source_buckets=self.source_buckets(sec),
        )

    def source_buckets(self, sec: Section) -> tuple[str, ...]:
        """``storage.source_buckets``: bucket names, each maybe with a key prefix after
        a ``/`` (relative, without ``..``); every bad one reported where it is written."""
        node = sec.node_of("source_buckets")
        if node is None or self.r.is_null(node):
            return ()
        field = sec.field("source_buckets")
        found: list[str] = []
        for index, item in enumerate(self.r.sequence(node, field) or []):
            item_field = join_path(field, index)
            raw = self.r.string(item, item_field)
            if raw is None:
                continue
            bucket, _, prefix = raw.partition("/")
            if not _BUCKET_RE.fullmatch(bucket) or ".." in prefix.split("/"):
                self.r.problem(
                    item,
                    item_field,
                    "not a bucket or bucket/prefix: a bucket name (3-63 characters of a-z, "
                    "0-9, '.' and '-'), then maybe '/' and a key prefix without '..'",
                )
                continue
            found.append(raw)
        return tuple(found)

    def intake(self, sec: Section) -> IntakeConfig:
        d = IntakeConfig()
        cap = sec.integer(
            "max_priority", d.max_priority, minimum=MIN_PRIORITY, maximum=MAX_PRIORITY
        )
        return IntakeConfig(
            max_priority=cap,
            watch_settle_s=sec.number("watch_settle_s", d.watch_settle_s, minimum=0),
            watch_rescan_s=sec.positive_number("watch_rescan_s", d.watch_rescan_s),
        )

    def audio(self, sec: Section) -> AudioConfig:
        node = sec.node_of("max_part_s")
        if node is None or self.r.is_null(node):
            return AudioConfig()
        return AudioConfig(max_part_s=sec.number("max_part_s", 0.0, minimum=MIN_PART_S))

    def quotas(self, sec: Section) -> QuotasConfig:
        d = QuotasConfig()
        return QuotasConfig(
            submissions=sec.positive_int("submissions", d.submissions),
            status_checks=sec.positive_int("status_checks", d.status_checks),
            window_s=sec.positive_number("window_s", d.window_s),
            audio_hours_per_day=sec.positive_number("audio_hours_per_day", d.audio_hours_per_day),
            safety_margin=sec.number("safety_margin", d.safety_margin, minimum=0, maximum=0.5),
            window_margin_s=self.auto_number(sec, "window_margin_s"),
            v3_status_checks_per_second=sec.positive_number(
                "v3_status_checks_per_second", d.v3_status_checks_per_second
            ),
            asr_xml_requests_per_second=sec.positive_number(
                "asr_xml_requests_per_second", d.asr_xml_requests_per_second
            ),
            rates=self.rates(sec),
        )

    def concurrency(self, sec: Section) -> ConcurrencyConfig:
        d = ConcurrencyConfig()
        return ConcurrencyConfig(
            uploads=sec.positive_int("uploads", d.uploads),
            operations_in_flight=sec.positive_int("operations_in_flight", d.operations_in_flight),
            fetches=sec.positive_int("fetches", d.fetches),
            upload_ahead=self.auto_int(sec, "upload_ahead"),
            asr_xml_requests=sec.positive_int("asr_xml_requests", d.asr_xml_requests),
            conversions=self.auto_int(sec, "conversions"),
            requests=self.requests(sec),
        )

    def rates(self, sec: Section) -> dict[str, QuotaRate]:
        """``quotas.rates``: ``<quota name>: {limit: N, window_s: W}`` (which names exist
        is the APIs' to say: checked where the quotas are derived)."""
        found: dict[str, QuotaRate] = {}
        rates = sec.section("rates", ())
        for name in rates:
            entry = rates.section(name, ("limit", "window_s"))
            entry.reject_unknown()
            for key in ("limit", "window_s"):
                if key not in entry:
                    entry.reader.problem(entry.anchor, entry.field(key), "is required")
            limit = entry.number("limit", 1.0, minimum=1)
            window = entry.positive_number("window_s", 1.0)
            found[name] = QuotaRate(limit, window, line=line_of(entry.anchor))
        return found

    def requests(self, sec: Section) -> dict[str, int]:
        """``concurrency.requests``: ``<api>: N`` requests waiting for their answer at once."""
        caps = sec.section("requests", ())
        return {name: caps.positive_int(name, 1) for name in caps}

    def auto_number(self, sec: Section, key: str) -> float | None:
        """A number >= 0, or ``auto`` (None: the default the daemon derives)."""
        node = sec.node_of(key)
        if node is None or (isinstance(node, yaml.ScalarNode) and node.value == "auto"):
            return None
        return sec.number(key, 0.0, minimum=0)

    def auto_int(self, sec: Section, key: str) -> int | None:
        """A positive integer, or ``auto`` (None: the default the daemon derives)."""
        node = sec.node_of(key)
        if node is None or (isinstance(node, yaml.ScalarNode) and node.value == "auto"):
            return None
        return sec.positive_int(key, 1)

    def paths(self, sec: Section) -> PathsConfig:
        d = PathsConfig()
        return PathsConfig(
            state_file=self.path(sec, "state_file", d.state_file),
            inbox=self.path(sec, "inbox", d.inbox),
            processed=self.path(sec, "processed", d.processed),
            failed=self.path(sec, "failed", d.failed),
            output=self.path(sec, "output", d.output),
            conversions=self.path(sec, "conversions", d.conversions),
            input_roots=self.input_roots(sec),
        )

    def input_roots(self, sec: Section) -> tuple[Path, ...]:
        """``paths.input_roots``: a list of directories, resolved (symlinks included) so
        that a file's real path can be compared with them; the config's own directory when
        absent. A root that is not a directory (yet) is allowed, with a warning."""
        node = sec.node_of("input_roots")
        if node is None or self.r.is_null(node):
            return (self.base_dir,)
        field = sec.field("input_roots")
        items = self.r.sequence(node, field)
        if items is None:
            return (self.base_dir,)
        if not items:
            self.r.problem(node, field, "must name at least one directory (/ allows any file)")
            return (self.base_dir,)
        roots = []
        for index, item in enumerate(items):
            item_field = join_path(field, index)
            raw = self.r.string(item, item_field)
            if raw is None:
                continue
            if "\0" in raw:
                self.r.problem(item, item_field, "must not contain a NUL byte")
                continue
            path = Path(raw).expanduser()
            root = (path if path.is_absolute() else self.base_dir / path).resolve()
            if not root.is_dir():
                self.r.warn(
                    item, item_field, f"{root} is not a directory: no audio can come from it"
                )
            roots.append(root)
        return tuple(roots) or (self.base_dir,)

    def retry(self, sec: Section) -> RetryConfig:
        d = RetryConfig()
        cfg = RetryConfig(
            max_attempts=sec.positive_int("max_attempts", d.max_attempts),
            base_delay_s=sec.positive_number("base_delay_s", d.base_delay_s),
            max_delay_s=sec.positive_number("max_delay_s", d.max_delay_s),
        )
        if cfg.max_delay_s < cfg.base_delay_s:
            self.r.problem(
                sec.node_of("max_delay_s") or sec.anchor,
                sec.field("max_delay_s"),
                "must be at least base_delay_s",
            )
        return cfg

    def polling(self, sec: Section) -> PollingConfig:
        d = PollingConfig()
        cfg = PollingConfig(
            initial_ratio=sec.positive_number("initial_ratio", d.initial_ratio),
            quantile=sec.number(
                "quantile", d.quantile, minimum=0, maximum=1, exclusive_minimum=True
            ),
            growth=sec.number("growth", d.growth, minimum=1),
            min_interval_s=sec.positive_number("min_interval_s", d.min_interval_s),
            max_interval_s=sec.positive_number("max_interval_s", d.max_interval_s),
            deferred_max_interval_s=sec.positive_number(
                "deferred_max_interval_s", d.deferred_max_interval_s
            ),
            checks_per_job=self.checks_per_job(sec),
            check_reserve=sec.number("check_reserve", d.check_reserve, minimum=0, maximum=0.9),
            timestamp_resolution_s=sec.number(
                "timestamp_resolution_s", d.timestamp_resolution_s, minimum=0
            ),
        )
        if cfg.max_interval_s < cfg.min_interval_s:
            self.r.problem(
                sec.node_of("max_interval_s") or sec.anchor,
                sec.field("max_interval_s"),
                "must be at least min_interval_s",
            )
        return cfg

    def checks_per_job(self, sec: Section) -> float | None:
        """``auto`` (None: what the quotas allow), 0 (no planned schedule) or a number."""
        node = sec.node_of("checks_per_job")
        if node is None or (isinstance(node, yaml.ScalarNode) and node.value == "auto"):
            return None
        return sec.number("checks_per_job", 0.0, minimum=0, maximum=MAX_CHECKS_PER_JOB)

    def logging(self, sec: Section) -> LoggingConfig:
        d = LoggingConfig()
        return LoggingConfig(
            format=sec.choice("format", d.format, LOG_FORMATS),
            level=sec.choice("level", d.level, LOG_LEVELS),
        )

    def status(self, sec: Section) -> StatusConfig:
        d = StatusConfig()
        port: int | None = d.listen_port
        if "listen_port" in sec:
            port = sec.optional_integer("listen_port", minimum=0, maximum=65535)
        return StatusConfig(
            listen_host=sec.string("listen_host", d.listen_host),
            listen_port=port,
            listen_unix=sec.optional_string("listen_unix"),
            max_connections=sec.positive_int("max_connections", d.max_connections),
            header_timeout_s=sec.positive_number("header_timeout_s", d.header_timeout_s),
            keepalive_timeout_s=sec.positive_number("keepalive_timeout_s", d.keepalive_timeout_s),
        )

    def service(self, sec: Section) -> ServiceConfig:
        d = ServiceConfig()
        node = sec.string("node", d.node)
        if not _NODE_RE.fullmatch(node):
            self.r.problem(
                sec.node_of("node") or sec.anchor,
                sec.field("node"),
                "must be 1-63 of A-Z a-z 0-9 . _ - (it names this daemon among those "
                "sharing a store)",
            )
            node = d.node
        return ServiceConfig(
            drain_timeout_s=sec.positive_number("drain_timeout_s", d.drain_timeout_s),
            watchdog=sec.boolean("watchdog", d.watchdog),
            node=node,
            lease_s=sec.number("lease_s", d.lease_s, minimum=1, maximum=3600),
        )

    def state(self, sec: Section) -> StateConfig:
        url = sec.optional_string("url")
        password = self.state_secrets.read(sec, "password")
        if url is not None:
            try:
                parts = urlsplit(url.strip())
                _ = parts.port  # raises ValueError for a bad port
                valid = parts.scheme in POSTGRES_SCHEMES and bool(parts.hostname or parts.path)
            except ValueError:
                parts, valid = None, False
            if not valid or parts is None:
                self.r.problem(
                    sec.node_of("url"),
                    sec.field("url"),
                    "must be a postgresql://USER@HOST[:PORT]/DATABASE URL",
                )
                url = None
            elif parts.password is not None or _query_password(parts.query):
                # The value is deliberately not echoed: it holds the password.
                self.r.problem(
                    sec.node_of("url"),
                    sec.field("url"),
                    "the URL holds a password; secrets are never written inline: remove "
                    "it and use password_env, password_file or password_credential",
                )
                url = None
            else:
                url = url.strip()
        elif password is not None or any(k.startswith("password") for k in sec):
            self.r.problem(sec.anchor, sec.field("url"), "missing: a password needs a url")
        migrate = sec.boolean("migrate", StateConfig.migrate)
        return StateConfig(url=url, password=password, migrate=migrate)

    def outputs(self, sec: Section) -> OutputsConfig:
        prefix = sec.optional_string("s3_prefix")
        if prefix is not None and (
            prefix.startswith("/") or ".." in prefix.split("/") or "\0" in prefix
        ):
            self.r.problem(
                sec.node_of("s3_prefix"), sec.field("s3_prefix"), "must be relative, without '..'"
            )
            prefix = None
        if prefix is not None and not prefix.endswith("/"):
            prefix += "/"
        local = sec.boolean("local", prefix is None)
        if not local and "s3_prefix" not in sec:
            self.r.problem(
                sec.node_of("local"),
                sec.field("local"),
                "false leaves the results nowhere: set s3_prefix too, or leave local out",
            )
            local = True
        return OutputsConfig(s3_prefix=prefix, local=local or prefix is None)

    def hooks(self, sec: Section) -> HooksConfig:
        return read_hooks(sec, self.secrets)


def _query_password(query: str) -> bool:
    """Whether a URL's query holds a password (``?password=``, as libpq and asyncpg take)."""
    return any(name.lower() == "password" for name, _ in parse_qsl(query, keep_blank_values=True))
