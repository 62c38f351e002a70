"""``python -m bench.poller SPEC``: a fixed-schedule client, as other tools poll SpeechKit v2.

It knows nothing of the orchestrator: plain aiohttp, submit every file at once (as fast
as the service lets it), then check each operation on the tool's schedule until done.
A 429 is retried after its Retry-After (the real tools would crash; retrying keeps the
comparison about polling). SPEC is a JSON file (see :class:`PollerSpec`); the API key
comes from ``$BENCH_SPEECHKIT_API_KEY``. It prints one JSON line with its own counts,
which the bench only uses to report failures: the figures come from the emulator.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.schedules import Schedule, by_key

API_KEY_ENV = "BENCH_SPEECHKIT_API_KEY"
SUBMIT_PATH = "/speech/stt/v2/longRunningRecognize"
OPERATION_PATH = "/operations/"
REQUEST_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class PollerSpec:
    """What one baseline run does."""

    schedule: str  # a key of bench.schedules.BASELINES
    emulator_url: str
    uris: list[str]
    speed: float
    sample_rate: int

    @classmethod
    def load(cls, path: Path) -> PollerSpec:
        """Read a spec written by the bench."""
        data = json.loads(path.read_text("utf-8"))
        return cls(**data)

    def dump(self, path: Path) -> None:
        """Write the spec for a poller process."""
        path.write_text(json.dumps(asdict(self)), "utf-8")


@dataclass
class PollerCounts:
    """What the poller itself saw (for failure reports; the bench measures from the emulator)."""

    jobs: int = 0
    done: int = 0
    submits: int = 0
    checks: int = 0
    throttled: int = 0
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0


class PollerError(Exception):
    """An answer the baseline cannot handle (anything but 200 or 429)."""


def retry_after_s(value: str | None, fallback_s: float) -> float:
    """Seconds from a Retry-After header (delta-seconds); ``fallback_s`` when absent or odd."""
    try:
        return max(0.0, float(value)) if value is not None else fallback_s
    except ValueError:
        return fallback_s


class Poller:
    """Submits every file and polls every operation on one schedule."""

    def __init__(self, spec: PollerSpec, schedule: Schedule, api_key: str) -> None:
        self.spec = spec
        self.schedule = schedule
        self.headers = {"Authorization": f"Api-Key {api_key}"}
        self.counts = PollerCounts(jobs=len(spec.uris))

    async def _call(
        self, session: aiohttp.ClientSession, method: str, url: str, body: Any = None
    ) -> dict[str, Any]:
        while True:
            async with session.request(method, url, headers=self.headers, json=body) as answer:
                text = await answer.text()
                if answer.status == 429:
                    self.counts.throttled += 1
                    # Retry-After is on the service's (here: the emulator's wall) clock.
                    wait = retry_after_s(answer.headers.get("Retry-After"), 1.0 / self.spec.speed)
                    await asyncio.sleep(wait)
                    continue
                if answer.status != 200:
                    raise PollerError(f"{method} {url}: HTTP {answer.status}: {text[:200]}")
                data: dict[str, Any] = json.loads(text)
                return data

    async def _job(self, session: aiohttp.ClientSession, uri: str) -> None:
        body = {
            "config": {
                "specification": {
                    "languageCode": "ru-RU",
                    "model": "general",
                    "audioEncoding": "LINEAR16_PCM",
                    "sampleRateHertz": self.spec.sample_rate,
                    "audioChannelCount": 1,
                }
            },
            "audio": {"uri": uri},
        }
        operation = await self._call(session, "POST", self.spec.emulator_url + SUBMIT_PATH, body)
        self.counts.submits += 1
        url = self.spec.emulator_url + OPERATION_PATH + str(operation["id"])
        for delay_s in self.schedule.delays():
            await asyncio.sleep(delay_s / self.spec.speed)
            status = await self._call(session, "GET", url)
            self.counts.checks += 1
            if status.get("done"):
                self.counts.done += 1
                return

    async def run(self) -> PollerCounts:
        """Every job to the end; errors are counted, not raised."""
        began = time.monotonic()
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            outcomes = await asyncio.gather(
                *(self._job(session, uri) for uri in self.spec.uris), return_exceptions=True
            )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                self.counts.errors.append(f"{type(outcome).__name__}: {outcome}")
        self.counts.wall_s = time.monotonic() - began
        return self.counts


def main(argv: list[str]) -> int:
    """Run the poller described by the spec file ``argv[0]``; print its counts as JSON."""
    if len(argv) != 1:
        print("usage: python -m bench.poller SPEC.json", file=sys.stderr)
        return 2
    api_key = os.environ.get(API_KEY_ENV)
    if not api_key:
        print(f"error: set {API_KEY_ENV}", file=sys.stderr)
        return 2
    spec = PollerSpec.load(Path(argv[0]))
    poller = Poller(spec, by_key(spec.schedule), api_key)
    counts = asyncio.run(poller.run())
    print(json.dumps(asdict(counts)), flush=True)
    return 1 if counts.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
