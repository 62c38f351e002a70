"""``python -m bench.poller SPEC``: a client that polls SpeechKit v2 as another tool does.

It knows nothing of the orchestrator: plain aiohttp. One submitter sends the files in
order, each as soon as the previous one was accepted (as fast as the service lets it, as
a tool's loop over files does); each accepted operation is then checked on the tool's
schedule (:mod:`bench.schedules`) until done, or until the tool gives up. A 429 is
retried after its Retry-After when the answer has one, else after an exponential backoff
with full jitter that grows with each consecutive 429 of that request (the real tools
would mostly crash; retrying keeps the comparison about quotas and polling).

SPEC is a JSON file (see :class:`PollerSpec`); the API key comes from
``$BENCH_SPEECHKIT_API_KEY``. It prints one JSON line with its own counts, which the bench
uses for failures and for how 429s were answered: every other figure comes from the
emulator.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.schedules import THROTTLE_BACKOFF, Schedule, by_key, parse_retry_after, throttle_wait_s

API_KEY_ENV = "BENCH_SPEECHKIT_API_KEY"
SUBMIT_PATH = "/speech/stt/v2/longRunningRecognize"
OPERATION_PATH = "/operations/"
REQUEST_TIMEOUT_S = 60.0
# More connections than aiohttp's default 100: a fixed-interval tool with hundreds of
# operations pending must not be held back by this client's pool.
CONNECTIONS = 400


@dataclass(frozen=True)
class PollerJob:
    """One file to recognise: its object link, and what the tool knows of it."""

    uri: str
    audio_s: float  # duration x channels
    encoding: str  # LINEAR16_PCM or OGG_OPUS


@dataclass(frozen=True)
class PollerSpec:
    """What one baseline run does."""

    schedule: str  # a key of bench.schedules
    emulator_url: str
    jobs: list[PollerJob]
    speed: float
    sample_rate: int  # of LINEAR16_PCM jobs
    seed: int = 0  # of the backoff's jitter

    @classmethod
    def load(cls, path: Path) -> PollerSpec:
        """Read a spec written by the bench."""
        data = json.loads(path.read_text("utf-8"))
        data["jobs"] = [PollerJob(**job) for job in data["jobs"]]
        return cls(**data)

    def dump(self, path: Path) -> None:
        """Write the spec for a poller process."""
        path.write_text(json.dumps(asdict(self)), "utf-8")


@dataclass
class PollerCounts:
    """What the poller itself saw (for failure reports; the bench measures from the emulator)."""

    jobs: int = 0
    done: int = 0
    gave_up: int = 0
    submits: int = 0
    checks: int = 0
    throttled: int = 0
    throttled_with_retry_after: int = 0
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0


class PollerError(Exception):
    """An answer the baseline cannot handle (anything but 200 or 429)."""


def request_body(job: PollerJob, sample_rate: int) -> dict[str, Any]:
    """The documented v2 request for ``job``."""
    specification: dict[str, Any] = {
        "languageCode": "ru-RU",
        "model": "general",
        "audioEncoding": job.encoding,
    }
    if job.encoding == "LINEAR16_PCM":
        specification |= {"sampleRateHertz": sample_rate, "audioChannelCount": 1}
    return {"config": {"specification": specification}, "audio": {"uri": job.uri}}


class Poller:
    """Submits every file in order and polls every operation on one schedule."""

    def __init__(self, spec: PollerSpec, schedule: Schedule, api_key: str) -> None:
        self.spec = spec
        self.schedule = schedule
        self.headers = {"Authorization": f"Api-Key {api_key}"}
        self.counts = PollerCounts(jobs=len(spec.jobs))
        self._rng = random.Random(f"{spec.seed}:backoff:{schedule.key}")
        self._epoch = 0.0

    def _elapsed_service_s(self) -> float:
        return (time.monotonic() - self._epoch) * self.spec.speed

    async def _call(
        self, session: aiohttp.ClientSession, method: str, url: str, body: Any = None
    ) -> dict[str, Any]:
        refused = 0
        while True:
            async with session.request(method, url, headers=self.headers, json=body) as answer:
                text = await answer.text()
                if answer.status == 429:
                    refused += 1
                    self.counts.throttled += 1
                    header = answer.headers.get("Retry-After")
                    if parse_retry_after(header) is not None:
                        self.counts.throttled_with_retry_after += 1
                    wait = throttle_wait_s(
                        header, refused, self.spec.speed, self._rng.random(), THROTTLE_BACKOFF
                    )
                    await asyncio.sleep(wait)
                    continue
                if answer.status != 200:
                    raise PollerError(f"{method} {url}: HTTP {answer.status}: {text[:200]}")
                data: dict[str, Any] = json.loads(text)
                return data

    async def _poll(self, session: aiohttp.ClientSession, job: PollerJob, op_id: str) -> None:
        url = self.spec.emulator_url + OPERATION_PATH + op_id
        check = 0
        while True:
            delay_s = self.schedule.delay_before(
                check, audio_s=job.audio_s, elapsed_s=self._elapsed_service_s()
            )
            if delay_s is None:
                self.counts.gave_up += 1
                return
            await asyncio.sleep(delay_s / self.spec.speed)
            status = await self._call(session, "GET", url)
            self.counts.checks += 1
            check += 1
            if status.get("done"):
                self.counts.done += 1
                return

    async def run(self) -> PollerCounts:
        """Every job to the end; errors are counted, not raised."""
        self._epoch = began = time.monotonic()
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        connector = aiohttp.TCPConnector(limit=CONNECTIONS)
        polls: list[asyncio.Task[None]] = []
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            submit_url = self.spec.emulator_url + SUBMIT_PATH
            for job in self.spec.jobs:
                try:
                    body = request_body(job, self.spec.sample_rate)
                    operation = await self._call(session, "POST", submit_url, body)
                except (PollerError, aiohttp.ClientError, TimeoutError) as exc:
                    self.counts.errors.append(f"submit: {type(exc).__name__}: {exc}")
                    continue
                self.counts.submits += 1
                polls.append(asyncio.create_task(self._poll(session, job, str(operation["id"]))))
            outcomes = await asyncio.gather(*polls, return_exceptions=True)
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
