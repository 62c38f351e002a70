"""The metrics registry, checked through prometheus_client's own text parser."""

from __future__ import annotations

import math

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from structlog.testing import capture_logs

from orchestrator.core.failures import ReasonClass
from orchestrator.core.jobs import State
from orchestrator.speechkit import CATALOGUE
from orchestrator.telemetry.metrics import (
    LAG_BUCKETS,
    Counter,
    DaemonMetrics,
    Gauge,
    Histogram,
    Registry,
    render_prometheus,
)

P = "speechkit_orchestrator_"


def _samples(text: str) -> dict[str, list[Sample]]:
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def _value(samples: list[Sample], name: str, **labels: str) -> float:
    matches = [s.value for s in samples if s.name == name and s.labels == labels]
    assert len(matches) == 1, (name, labels, samples)
    return matches[0]


def test_counter_gauge_histogram_round_trip() -> None:
    registry = Registry()
    requests = registry.counter("requests_total", "Requests.", ["endpoint", "status"])
    temperature = registry.gauge("temperature", "Degrees.", ["room"])
    lag = registry.histogram("lag_seconds", "Lag.", [1, 5])

    requests.inc(endpoint="submit", status=200)
    requests.inc(2, endpoint="submit", status=200)
    requests.inc(endpoint="poll", status="error")
    temperature.set(21.5, room="kitchen")
    temperature.set_function(lambda: -3.0, room="porch")
    for seconds in (0.5, 1.0, 3.0, 100.0):
        lag.observe(seconds)

    families = {f.name: f for f in text_string_to_metric_families(render_prometheus(registry))}

    assert families["requests"].type == "counter"
    assert families["requests"].documentation == "Requests."
    req = families["requests"].samples
    assert _value(req, "requests_total", endpoint="submit", status="200") == 3.0
    assert _value(req, "requests_total", endpoint="poll", status="error") == 1.0
    assert families["temperature"].type == "gauge"
    assert _value(families["temperature"].samples, "temperature", room="kitchen") == 21.5
    assert _value(families["temperature"].samples, "temperature", room="porch") == -3.0
    hist = families["lag_seconds"].samples
    assert families["lag_seconds"].type == "histogram"
    assert _value(hist, "lag_seconds_bucket", le="1.0") == 2
    assert _value(hist, "lag_seconds_bucket", le="5.0") == 3
    assert _value(hist, "lag_seconds_bucket", le="+Inf") == 4
    assert _value(hist, "lag_seconds_count") == 4
    assert _value(hist, "lag_seconds_sum") == 104.5


def test_label_values_and_help_are_escaped() -> None:
    registry = Registry()
    counter = registry.counter("odd_total", 'Help with \\ and\na newline and "quotes".', ["path"])
    nasty = 'C:\\dir\n"quoted"'
    counter.inc(path=nasty)

    text = render_prometheus(registry)

    assert '{path="C:\\\\dir\\n\\"quoted\\""}' in text
    family = next(iter(text_string_to_metric_families(text)))
    assert family.documentation == 'Help with \\ and\na newline and "quotes".'
    assert family.samples[0].labels == {"path": nasty}


def test_unlabelled_metrics_are_exported_from_the_start() -> None:
    registry = Registry()
    registry.counter("events_total", "Events.")
    registry.histogram("sizes", "Sizes.", [10])
    registry.gauge("unset", "Never set.")

    samples = _samples(render_prometheus(registry))

    assert _value(samples["events"], "events_total") == 0
    assert _value(samples["sizes"], "sizes_bucket", le="+Inf") == 0
    assert samples["unset"] == []


def test_wrong_labels_and_bad_values_are_refused() -> None:
    counter = Counter("c_total", "C.", ["a"])
    with pytest.raises(ValueError, match=r"takes labels \['a'\]"):
        counter.inc(b="x")
    with pytest.raises(ValueError, match="cannot go down"):
        counter.inc(-1, a="x")
    with pytest.raises(ValueError, match="invalid metric name"):
        Counter("bad-name", "B.")
    with pytest.raises(ValueError, match="invalid label name"):
        Histogram("h", "H.", [1], ["le"])
    with pytest.raises(ValueError, match="increasing"):
        Histogram("h", "H.", [5, 1])
    registry = Registry()
    registry.gauge("g", "G.")
    with pytest.raises(ValueError, match="already registered"):
        registry.gauge("g", "G again.")


def test_a_failing_gauge_callback_drops_only_its_series() -> None:
    gauge = Gauge("g", "G.", ["k"])
    gauge.set(1, k="fine")
    gauge.set_function(lambda: 1 / 0, k="broken")
    registry = Registry()
    registry.register(gauge)

    with capture_logs() as logs:
        samples = _samples(render_prometheus(registry))["g"]

    assert [s.labels for s in samples] == [{"k": "fine"}]
    assert logs[0]["event"] == "metrics.callback_failed"
    assert logs[0]["labels"] == {"k": "broken"}


def test_special_float_values() -> None:
    gauge = Gauge("g", "G.", ["k"])
    gauge.set(math.inf, k="up")
    gauge.set(-math.inf, k="down")
    gauge.set(math.nan, k="nan")
    registry = Registry()
    registry.register(gauge)

    samples = _samples(render_prometheus(registry))["g"]

    assert _value(samples, "g", k="up") == math.inf
    assert _value(samples, "g", k="down") == -math.inf
    assert math.isnan(_value(samples, "g", k="nan"))


def test_daemon_metrics_families() -> None:
    metrics = DaemonMetrics(quotas=CATALOGUE.request_quotas())
    metrics.set_jobs_by_state({"queued": 3, "running": 2})
    metrics.set_jobs_by_state({"running": 4, "done": 1})
    metrics.record_request("v2.submit", 200)
    metrics.record_request("operation.get", 429)
    metrics.throttled.inc(quota="status")
    metrics.set_quota("submit", used=10, left=480)
    metrics.quota_left.set_function(lambda: 2000, quota="status")
    metrics.status_check_lag.observe(0.2)
    metrics.status_check_lag.observe(4000)
    metrics.uploaded_bytes.inc(1024)
    metrics.polls_per_job.observe(1)
    metrics.operations_expired.inc()
    metrics.jobs_failed.inc(reason="bad_audio")

    families = {f.name: f for f in text_string_to_metric_families(metrics.render())}

    assert set(families) == {
        P + "jobs",
        P + "api_requests",
        P + "quota_used",
        P + "quota_left",
        P + "throttled",
        P + "status_check_lag_seconds",
        P + "uploaded_bytes",
        P + "polls_per_job",
        P + "operations_expired",
        P + "jobs_failed",
        P + "jobs_done",
        P + "quota_pause_seconds",
        P + "healthy",
        P + "start_time_seconds",
        P + "credentials_ok",
        P + "credentials_refreshes",
        P + "credentials_refresh_failures",
        P + "storage_ok",
    }
    jobs = families[P + "jobs"].samples
    # Every state has its series (0 when no job is in it), so a dashboard's lines are steady.
    assert {s.labels["state"]: s.value for s in jobs} == {
        **{state.value: 0 for state in State},
        "running": 4,
        "done": 1,
    }
    requests = families[P + "api_requests"].samples
    assert _value(requests, P + "api_requests_total", endpoint="operation.get", status="429") == 1
    throttled = families[P + "throttled"].samples
    assert _value(throttled, P + "throttled_total", quota="status") == 1
    assert _value(throttled, P + "throttled_total", quota="submit") == 0
    assert _value(families[P + "quota_left"].samples, P + "quota_left", quota="status") == 2000
    assert _value(families[P + "quota_used"].samples, P + "quota_used", quota="submit") == 10
    lag = families[P + "status_check_lag_seconds"].samples
    bounds = [s.labels["le"] for s in lag if s.name.endswith("_bucket")]
    assert bounds == [repr(b) for b in LAG_BUCKETS] + ["+Inf"]
    assert _value(lag, P + "status_check_lag_seconds_bucket", le="0.5") == 1
    assert _value(lag, P + "status_check_lag_seconds_bucket", le="3600.0") == 1
    assert _value(lag, P + "status_check_lag_seconds_count") == 2
    uploaded = families[P + "uploaded_bytes"].samples
    assert _value(uploaded, P + "uploaded_bytes_total") == 1024
    failed = families[P + "jobs_failed"].samples
    assert _value(failed, P + "jobs_failed_total", reason="bad_audio") == 1
    # Every reason class is there from the start: the first failure shows as an increase.
    for reason in ReasonClass:
        assert _value(failed, P + "jobs_failed_total", reason=reason.value) == 0
    assert _value(families[P + "jobs_done"].samples, P + "jobs_done_total") == 0
