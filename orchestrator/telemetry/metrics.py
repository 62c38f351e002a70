"""A tiny in-process metrics registry and the Prometheus text exposition format 0.0.4.

No runtime dependency and no locks: every update happens on the daemon's one event loop.
``DaemonMetrics`` holds the daemon's own metric set, which the pipeline updates.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import ClassVar, TypeVar

from orchestrator.core.failures import ReasonClass
from orchestrator.core.jobs import State
from orchestrator.telemetry.logs import get_logger

_log = get_logger()

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")

LabelValues = tuple[str, ...]
_M = TypeVar("_M", bound="Metric")


def _format_float(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value))


def _escape_label_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _format_labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{name}="{_escape_label_value(value)}"' for name, value in pairs)
    return "{" + inner + "}" if inner else ""


class Metric:
    """A named metric family with a fixed set of label names."""

    type_name: ClassVar[str] = "untyped"
    _reserved_labels: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        """Check the names now, so a typo fails at start-up rather than at scrape time."""
        if not _METRIC_NAME.match(name):
            raise ValueError(f"invalid metric name {name!r}")
        for label in labelnames:
            if (
                not _LABEL_NAME.match(label)
                or label.startswith("__")
                or label in self._reserved_labels
            ):
                raise ValueError(f"invalid label name {label!r} for {name}")
        if len(set(labelnames)) != len(labelnames):
            raise ValueError(f"duplicate label names for {name}")
        self.name = name
        self.help = help_text
        self.labelnames = tuple(labelnames)

    def _key(self, labels: Mapping[str, object]) -> LabelValues:
        if set(labels) != set(self.labelnames):
            raise ValueError(
                f"{self.name} takes labels {sorted(self.labelnames)}, got {sorted(labels)}"
            )
        return tuple(str(labels[name]) for name in self.labelnames)

    def samples(self) -> Iterator[tuple[str, LabelValues, tuple[tuple[str, str], ...], float]]:
        """(sample name, label values, extra labels, value) for every series."""
        raise NotImplementedError

    def render(self) -> list[str]:
        """The metric family in the text format: HELP, TYPE and one line per sample."""
        lines = [
            f"# HELP {self.name} {_escape_help(self.help)}",
            f"# TYPE {self.name} {self.type_name}",
        ]
        for sample_name, values, extra, value in self.samples():
            pairs = [*zip(self.labelnames, values, strict=True), *extra]
            lines.append(f"{sample_name}{_format_labels(pairs)} {_format_float(value)}")
        return lines


class Counter(Metric):
    """A value that only goes up. By convention its name ends in ``_total``."""

    type_name = "counter"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        """A counter; unlabelled counters start at 0 so they are exported before the first event."""
        super().__init__(name, help_text, labelnames)
        self._values: dict[LabelValues, float] = {} if labelnames else {(): 0.0}

    def inc(self, amount: float = 1.0, /, **labels: str | int) -> None:
        """Add ``amount`` (not negative) to the series named by ``labels``."""
        if amount < 0:
            raise ValueError(f"{self.name}: a counter cannot go down ({amount})")
        key = self._key(labels)
        self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str | int) -> float:
        """The current value of one series (0 if never incremented)."""
        return self._values.get(self._key(labels), 0.0)

    def samples(self) -> Iterator[tuple[str, LabelValues, tuple[tuple[str, str], ...], float]]:
        """One sample per series, in label order."""
        for key in sorted(self._values):
            yield self.name, key, (), self._values[key]


class Gauge(Metric):
    """A value that goes up and down, set directly or read from a callback at scrape time."""

    type_name = "gauge"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        """A gauge with no series until the first ``set`` or ``set_function``."""
        super().__init__(name, help_text, labelnames)
        self._values: dict[LabelValues, float] = {}
        self._functions: dict[LabelValues, Callable[[], float]] = {}

    def set(self, value: float, /, **labels: str | int) -> None:
        """Set the series named by ``labels`` to ``value``."""
        key = self._key(labels)
        self._functions.pop(key, None)
        self._values[key] = float(value)

    def inc(self, amount: float = 1.0, /, **labels: str | int) -> None:
        """Add ``amount`` (may be negative) to the series named by ``labels``."""
        key = self._key(labels)
        self._values[key] = self._values.get(key, 0.0) + amount

    def set_function(self, fn: Callable[[], float], /, **labels: str | int) -> None:
        """Read the series named by ``labels`` from ``fn()`` at every scrape."""
        key = self._key(labels)
        self._values.pop(key, None)
        self._functions[key] = fn

    def series(self) -> list[LabelValues]:
        """The label values of every series, set or computed."""
        return [*self._values, *self._functions]

    def value(self, **labels: str | int) -> float | None:
        """The current value of one series, or None if it does not exist."""
        key = self._key(labels)
        if key in self._functions:
            return float(self._functions[key]())
        return self._values.get(key)

    def samples(self) -> Iterator[tuple[str, LabelValues, tuple[tuple[str, str], ...], float]]:
        """One sample per series; a failing callback drops its series and is logged."""
        current = dict(self._values)
        for key, fn in self._functions.items():
            try:
                current[key] = float(fn())
            except Exception as exc:
                _log.warning(
                    "metrics.callback_failed",
                    metric=self.name,
                    labels=dict(zip(self.labelnames, key, strict=True)),
                    error=f"{type(exc).__name__}: {exc}",
                )
        for key in sorted(current):
            yield self.name, key, (), current[key]


class Histogram(Metric):
    """Observations counted in fixed cumulative buckets, with their sum and count."""

    type_name = "histogram"
    _reserved_labels = frozenset({"le"})

    def __init__(
        self,
        name: str,
        help_text: str,
        buckets: Sequence[float],
        labelnames: Sequence[str] = (),
    ) -> None:
        """``buckets`` are the finite upper bounds, increasing; ``+Inf`` is always added."""
        super().__init__(name, help_text, labelnames)
        bounds = [float(b) for b in buckets if not math.isinf(b)]
        if not bounds or any(a >= b for a, b in itertools.pairwise(bounds)):
            raise ValueError(f"{name}: buckets must be a non-empty increasing sequence")
        self.buckets = (*bounds, math.inf)
        # Per series: non-cumulative counts per bucket, then sum.
        self._counts: dict[LabelValues, list[int]] = {}
        self._sums: dict[LabelValues, float] = {}
        if not labelnames:
            self._counts[()] = [0] * len(self.buckets)
            self._sums[()] = 0.0

    def observe(self, value: float, /, **labels: str | int) -> None:
        """Count one observation of ``value`` in the series named by ``labels``."""
        key = self._key(labels)
        counts = self._counts.setdefault(key, [0] * len(self.buckets))
        for index, bound in enumerate(self.buckets):
            if value <= bound:
                counts[index] += 1
                break
        self._sums[key] = self._sums.get(key, 0.0) + value

    def count(self, **labels: str | int) -> int:
        """How many observations the series named by ``labels`` has."""
        return sum(self._counts.get(self._key(labels), ()))

    def samples(self) -> Iterator[tuple[str, LabelValues, tuple[tuple[str, str], ...], float]]:
        """``_bucket`` samples (cumulative, with ``le``), then ``_sum`` and ``_count``."""
        for key in sorted(self._counts):
            cumulative = 0
            for bound, count in zip(self.buckets, self._counts[key], strict=True):
                cumulative += count
                yield f"{self.name}_bucket", key, (("le", _format_float(bound)),), cumulative
            yield f"{self.name}_sum", key, (), self._sums[key]
            yield f"{self.name}_count", key, (), cumulative


class Registry:
    """The set of metric families exported together, in registration order."""

    def __init__(self) -> None:
        """An empty registry."""
        self._metrics: dict[str, Metric] = {}

    def register(self, metric: _M) -> _M:
        """Add ``metric`` and return it; a second family with the same name is refused."""
        if metric.name in self._metrics:
            raise ValueError(f"metric {metric.name} is already registered")
        self._metrics[metric.name] = metric
        return metric

    def counter(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> Counter:
        """Register and return a counter."""
        return self.register(Counter(name, help_text, labelnames))

    def gauge(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> Gauge:
        """Register and return a gauge."""
        return self.register(Gauge(name, help_text, labelnames))

    def histogram(
        self, name: str, help_text: str, buckets: Sequence[float], labelnames: Sequence[str] = ()
    ) -> Histogram:
        """Register and return a histogram."""
        return self.register(Histogram(name, help_text, buckets, labelnames))

    def __iter__(self) -> Iterator[Metric]:
        """The registered families, in registration order."""
        return iter(list(self._metrics.values()))


def render_prometheus(registry: Registry) -> str:
    """The whole registry in the Prometheus text exposition format, version 0.0.4."""
    lines: list[str] = []
    for metric in registry:
        lines.extend(metric.render())
    return "\n".join(lines) + "\n" if lines else ""


PREFIX = "speechkit_orchestrator_"
# Seconds between "done on the server" and "our poll saw done": from sub-second to an hour.
LAG_BUCKETS = (
    0.5,
    1.0,
    2.0,
    5.0,
    10.0,
    20.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1200.0,
    1800.0,
    3600.0,
)
# Status checks spent per finished job; 1 is the physical limit.
POLLS_BUCKETS = (1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 10.0, 15.0, 20.0, 30.0, 50.0, 100.0)


# The sources of renewed IAM tokens: the ``source`` label of the credentials families.
TOKEN_SOURCES = ("authorized_key", "metadata", "token_file")


class DaemonMetrics:
    """The daemon's metric set: the pipeline updates these, ``/metrics`` exports them."""

    def __init__(self, registry: Registry | None = None, quotas: Iterable[str] = ()) -> None:
        """Register every family in ``registry`` (a fresh one by default); ``quotas`` are
        the request quotas the APIs spend (the catalogue's), whose 429s are counted."""
        self.registry = registry if registry is not None else Registry()
        reg = self.registry
        self._add_pipeline_families(reg)
        self._add_outcome_families(reg)
        self.healthy = reg.gauge(
            f"{PREFIX}healthy",
            "1 while /healthz would answer 200 (the loop runs, the store takes writes), else 0.",
        )
        self.start_time = reg.gauge(
            f"{PREFIX}start_time_seconds", "When the daemon started, in seconds since the epoch."
        )
        self._add_credentials_families(reg)
        # Every series a dashboard or an alert names exists from the start, at 0: a counter
        # first seen at 1 shows no increase, and its first failure or 429 would go unnoticed.
        for quota in quotas:
            self.throttled.inc(0, quota=quota)
        for reason in ReasonClass:
            self.jobs_failed.inc(0, reason=reason.value)
        self.set_jobs_by_state({})

    def _add_pipeline_families(self, reg: Registry) -> None:
        """The jobs by state, the requests sent and the quotas they spend, and how late a
        status check sees a finish."""
        self.jobs = reg.gauge(f"{PREFIX}jobs", "Jobs in the state store, by state.", ["state"])
        self.api_requests = reg.counter(
            f"{PREFIX}api_requests_total",
            "Requests sent to the SpeechKit APIs, by endpoint and HTTP status "
            '("error" when no answer came).',
            ["endpoint", "status"],
        )
        self.quota_used = reg.gauge(
            f"{PREFIX}quota_used",
            "Requests spent in the current sliding window, by quota.",
            ["quota"],
        )
        self.quota_left = reg.gauge(
            f"{PREFIX}quota_left",
            "Requests still allowed in the current sliding window, by quota.",
            ["quota"],
        )
        self.throttled = reg.counter(
            f"{PREFIX}throttled_total",
            "429 Too Many Requests answers received, by quota.",
            ["quota"],
        )
        self.status_check_lag = reg.histogram(
            f"{PREFIX}status_check_lag_seconds",
            "Seconds between an operation finishing on the server (or our estimate of it) "
            "and our poll seeing it done.",
            LAG_BUCKETS,
        )

    def _add_outcome_families(self, reg: Registry) -> None:
        """What the jobs cost and came to, and the pause a 429 puts on a quota."""
        self.uploaded_bytes = reg.counter(
            f"{PREFIX}uploaded_bytes_total", "Bytes of audio uploaded to object storage."
        )
        self.polls_per_job = reg.histogram(
            f"{PREFIX}polls_per_job",
            "Status checks spent on each job that finished.",
            POLLS_BUCKETS,
        )
        self.operations_expired = reg.counter(
            f"{PREFIX}operations_expired_total",
            "Operations whose results had expired on the server before we fetched them.",
        )
        self.jobs_failed = reg.counter(
            f"{PREFIX}jobs_failed_total", "Jobs failed for good, by reason class.", ["reason"]
        )
        self.jobs_done = reg.counter(
            f"{PREFIX}jobs_done_total", "Jobs that ended with their transcripts written."
        )
        self.quota_pause = reg.gauge(
            f"{PREFIX}quota_pause_seconds",
            "Seconds left of the pause a 429 put on a quota (0 when it is not paused), by quota.",
            ["quota"],
        )

    def _add_credentials_families(self, reg: Registry) -> None:
        """Whether the IAM token is renewed, how often renewing it failed, and whether
        the bucket can be used."""
        self.credentials_ok = reg.gauge(
            f"{PREFIX}credentials_ok",
            "1 while the credential is good (a renewed IAM token's last renewal succeeded), "
            "else 0: jobs wait for one.",
        )
        self.credentials_refreshes = reg.counter(
            f"{PREFIX}credentials_refreshes_total",
            "New IAM tokens received, by source (authorized_key, metadata, token_file).",
            ["source"],
        )
        self.credentials_refresh_failures = reg.counter(
            f"{PREFIX}credentials_refresh_failures_total",
            "Renewals of the IAM token that failed, by source.",
            ["source"],
        )
        self.credentials_ok.set(1)
        self.storage_ok = reg.gauge(
            f"{PREFIX}storage_ok",
            "1 while the object storage bucket takes objects, else 0 (none, no rights, "
            "refused credentials): what needs it waits.",
        )
        self.storage_ok.set(1)
        for source in TOKEN_SOURCES:
            self.credentials_refreshes.inc(0, source=source)
            self.credentials_refresh_failures.inc(0, source=source)

    def set_jobs_by_state(self, counts: Mapping[str, int]) -> None:
        """Set the jobs gauge from a full count by state; every other state is 0."""
        for state in {*(s.value for s in State), *(key for (key,) in self.jobs.series())}:
            if state not in counts:
                self.jobs.set(0, state=state)
        for state, count in counts.items():
            self.jobs.set(count, state=state)

    def record_request(self, endpoint: str, status: int | str) -> None:
        """Count one API request; ``status`` is the HTTP status, or e.g. "error"/"timeout"."""
        self.api_requests.inc(endpoint=endpoint, status=status)

    def set_quota(self, quota: str, used: float, left: float) -> None:
        """Set the used and left gauges of one quota (one the catalogue declares)."""
        self.quota_used.set(used, quota=quota)
        self.quota_left.set(left, quota=quota)

    def render(self) -> str:
        """Everything in the Prometheus text format."""
        return render_prometheus(self.registry)
