"""Request counters for /_emulator/stats (operations count themselves)."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any


class RequestStats:
    """Requests per endpoint and status, 429s per quota, injected faults per kind."""

    def __init__(self) -> None:
        self.requests: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.throttled: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()

    def count_request(self, endpoint: str, status: str) -> None:
        """One answered (or deliberately dropped) request."""
        self.requests[endpoint][status] += 1

    def as_json(self) -> dict[str, Any]:
        """The counters as plain JSON."""
        return {
            "requests": {
                endpoint: dict(sorted(statuses.items()))
                for endpoint, statuses in sorted(self.requests.items())
            },
            "throttled": dict(sorted(self.throttled.items())),
            "throttled_total": sum(self.throttled.values()),
            "faults": dict(sorted(self.faults.items())),
        }
