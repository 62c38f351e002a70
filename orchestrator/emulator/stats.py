"""The counters behind ``GET /_emulator/stats``: requests, quotas, operations, asr_xml calls."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

from orchestrator.emulator.settings import EmulatorSettings

if TYPE_CHECKING:
    from orchestrator.emulator.operations import OperationStore
    from orchestrator.emulator.quota import QuotaMeter


class RequestStats:
    """Requests per endpoint and status (also per API), 429s per quota, faults, and one record
    per asr_xml recognition (requests refused before reading the audio have none)."""

    def __init__(self) -> None:
        self.requests: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.by_api: defaultdict[str, defaultdict[str, Counter[str]]] = defaultdict(
            lambda: defaultdict(Counter)
        )
        self.throttled: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        # 401s by why the credential was refused: "unknown", or "expired" (an IAM token).
        self.unauthenticated: Counter[str] = Counter()
        self.asr_xml: list[dict[str, Any]] = []

    def count_request(self, endpoint: str, status: str, api: str | None = None) -> None:
        """One answered (or deliberately dropped) request."""
        self.requests[endpoint][status] += 1
        self.by_api[api or "none"][endpoint][status] += 1

    def as_json(self) -> dict[str, Any]:
        """The counters as plain JSON."""
        return {
            "requests": _sorted(self.requests),
            "requests_by_api": {
                api: _sorted(endpoints) for api, endpoints in sorted(self.by_api.items())
            },
            "throttled": dict(sorted(self.throttled.items())),
            "throttled_total": sum(self.throttled.values()),
            "faults": dict(sorted(self.faults.items())),
            "unauthenticated": dict(sorted(self.unauthenticated.items())),
        }


def _sorted(requests: dict[str, Counter[str]]) -> dict[str, dict[str, int]]:
    return {
        endpoint: dict(sorted(statuses.items())) for endpoint, statuses in sorted(requests.items())
    }


def _summary(operations: dict[str, dict[str, Any]]) -> dict[str, Any]:
    finished = [op for op in operations.values() if op["finished_at"] is not None]
    checks = sum(op["status_checks"] for op in operations.values())
    return {
        "operations": len(operations),
        "running": len(operations) - len(finished),
        "succeeded": sum(1 for op in finished if op["outcome"] == "response"),
        "failed": sum(1 for op in finished if op["outcome"] == "error"),
        "status_checks": checks,
        "checks_per_operation": checks / len(operations) if operations else None,
    }


def _asr_xml_summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "recognitions": len(records),
        "recognised": sum(1 for r in records if r["success"]),
        "unrecognised": sum(1 for r in records if not r["success"]),
        "audio_seconds": sum(r["audio_seconds"] or 0.0 for r in records),
        "calls": list(records),
    }


def build(
    settings: EmulatorSettings,
    requests: RequestStats,
    quotas: dict[str, QuotaMeter],
    store: OperationStore,
) -> dict[str, Any]:
    """Every counter, as JSON."""
    operations = {op.id: op.stats() for op in store.operations.values()}
    by_api: dict[str, dict[str, Any]] = {}
    for api in ("v2", "v3"):
        subset = {key: op for key, op in operations.items() if op["api"] == api}
        by_api[api] = _summary(subset)
    s = settings
    return {
        "settings": {
            "speed": s.speed,
            "seed": s.seed,
            "processing_overhead_s": s.processing_overhead_s,
            "submit_quota": s.submit_quota,
            "status_quota": s.status_quota,
            "quota_window_s": s.effective_window_s,
            "v3_status_quota": s.v3_status_quota,
            "v3_status_window_s": s.effective_v3_status_window_s,
            "asr_xml_quota": s.asr_xml_quota,
            "asr_xml_window_s": s.effective_asr_xml_window_s,
            "ttl_s": s.effective_ttl_s,
            "max_concurrent": s.max_concurrent,
            "retry_after": s.retry_after,
            "timestamp_resolution_s": s.timestamp_resolution_s,
        },
        "summary": _summary(operations),
        "summary_by_api": by_api,
        **requests.as_json(),
        "quotas": {name: meter.as_json() for name, meter in sorted(quotas.items())},
        "operations": operations,
        "asr_xml": _asr_xml_summary(requests.asr_xml),
    }
