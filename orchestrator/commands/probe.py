"""``speechkit-orchestrator probe --config FILE``: try the real service before a batch.

With the config's own credentials: the bucket takes an upload and gives it back, the
SpeechKit credential is accepted, and a generated 1.5 s clip makes one round trip through
each API asked for (v2 and v3 read it from the bucket, which also proves the service
account may read it; asr_xml takes the bytes). What it will spend is said before it
starts: asynchronous recognition bills at least 15 s a file, so each API counts 15 s.
The clip is a tone, so the real service may well recognise nothing in it: what is checked
is the round trip, not the words.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import math
import struct
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import aiohttp

from orchestrator.config import Config, load_config
from orchestrator.core import constants as c
from orchestrator.core.apis import ApiSpec
from orchestrator.core.billing import billable_seconds
from orchestrator.core.refs import ObjectRef
from orchestrator.core.transcript import Transcript
from orchestrator.speechkit import LocalAudio, RecognitionClient, SpeechKitError, SubmitRequest
from orchestrator.speechkit.catalogue import CATALOGUE
from orchestrator.speechkit.clients import make_clients
from orchestrator.speechkit.errors import ErrorKind, RecognitionFailed
from orchestrator.storage.factory import open_object_storage
from orchestrator.storage.protocol import ObjectStorage, StorageError

CLIP_S = 1.5
CLIP_RATE = 16000
# The first wait for an operation, doubled up to the cap: a short clip is done in seconds,
# and the status checks come out of the same quotas as a batch's.
FIRST_CHECK_S = 0.25
MAX_CHECK_S = 5.0
DEFAULT_WAIT_S = 300.0


@dataclass(frozen=True)
class Finding:
    """One thing the probe found: ``status`` is ok, error or skipped."""

    status: str
    what: str
    detail: str


def clip() -> bytes:
    """1.5 s of 16 kHz mono raw LPCM: a quiet 440 Hz tone."""
    frames = int(CLIP_S * CLIP_RATE)
    samples = (int(3000 * math.sin(2 * math.pi * 440 * i / CLIP_RATE)) for i in range(frames))
    return b"".join(struct.pack("<h", s) for s in samples)


def billable_plan(apis: Sequence[str]) -> float:
    """The most billable audio the probe spends: one clip per API, each billed as a file."""
    return billable_seconds(CLIP_S, 1) * len(apis)


def _said(transcript: Transcript) -> str:
    text = " ".join(u.text for u in transcript.utterances if u.text)
    if not text:
        return "nothing recognised in the tone (the round trip worked)"
    return f"recognised {text[:60]!r}" + ("..." if len(text) > 60 else "")


def _failed(what: str, exc: SpeechKitError | StorageError) -> Finding:
    if isinstance(exc, SpeechKitError) and exc.kind is ErrorKind.AUTH:
        return Finding("error", "credential", f"{what}: the service refused it: {exc.message}")
    message = exc.message
    return Finding("error", what, message)


async def _wait(client: RecognitionClient, operation_id: str, wait_s: float) -> Transcript:
    """Check the operation, less often as it goes, until done; its transcript."""
    delay, waited = FIRST_CHECK_S, 0.0
    while True:
        status = await client.get_operation(operation_id)
        if status.done or status.error is not None:
            break
        if waited >= wait_s:
            raise TimeoutError(f"operation {operation_id} not done after {wait_s:.0f} s")
        await asyncio.sleep(delay)
        waited += delay
        delay = min(delay * 2, MAX_CHECK_S)
    found = client.result_of(status)
    if found is None:
        found = await client.fetch_result(operation_id)
        await client.delete_result(operation_id)
    return found


def _request(spec: ApiSpec, uri: str | None, data: bytes) -> SubmitRequest:
    if spec.uploads:
        return SubmitRequest(uri, "LINEAR16_PCM", sample_rate=CLIP_RATE, channels=1)

    def read(offset: int, length: int) -> Iterator[bytes]:
        yield data[offset : offset + length]

    local = LocalAudio("raw", len(data), 0, len(data), read)
    model = spec.models[0]
    return SubmitRequest(None, "LINEAR16_PCM", sample_rate=CLIP_RATE, model=model, local=local)


async def recognise(
    client: RecognitionClient, api: str, uri: str | None, data: bytes, wait_s: float
) -> Finding:
    """One round trip of the clip through ``client``."""
    spec = client.profile
    try:
        submitted = await client.submit(_request(spec, uri, data))
        transcript = submitted.transcript
        if transcript is None:
            transcript = await _wait(client, submitted.operation_id, wait_s)
    except RecognitionFailed as exc:
        if exc.grpc_code is None and not spec.asynchronous:
            # success="0": the request was taken and answered; the tone held no speech.
            return Finding("ok", api, "answered: nothing recognised in the tone")
        return Finding("error", api, f"the recognition failed: {exc.message}")
    except SpeechKitError as exc:
        return _failed(api, exc)
    except TimeoutError as exc:
        return Finding("error", api, str(exc))
    return Finding("ok", api, _said(transcript))


async def _store_clip(
    storage: ObjectStorage, prefix: str, data: bytes
) -> tuple[str | None, str | None, Finding]:
    """Upload the clip and read it back: its key, its link, and what was found."""
    digest = hashlib.sha256(data).hexdigest()
    key = storage.object_key(prefix.rstrip("/") + "/probe", digest, ".raw")
    try:
        await storage.upload(key, iter([data]), len(data), digest)
        back = await storage.get_bytes(key, len(data))
    except StorageError as exc:
        return None, None, _failed("storage", exc)
    if back != data:
        return key, None, Finding("error", "storage", f"{key} did not read back as written")
    link = ObjectRef(storage.bucket, key).link(storage.public_url_base)
    detail = f"uploaded {key} to bucket {storage.bucket} and read it back"
    return key, link, Finding("ok", "storage", detail)


def _skip_reason(config: Config, spec: ApiSpec, link: str | None) -> str | None:
    if not spec.uploads and config.speechkit.api_key is None:
        return f"{spec.name} takes an API key only (speechkit.api_key_*)"
    if spec.uploads and link is None:
        return "the clip is not in the bucket"
    return None


async def probe(
    config: Config, apis: Sequence[str], wait_s: float = DEFAULT_WAIT_S
) -> list[Finding]:
    """Everything the probe finds, in order: storage, then each API."""
    data = clip()
    async with open_object_storage(config.storage) as storage:
        key, link, stored = await _store_clip(storage, config.storage.prefix, data)
        findings = [stored]
        async with aiohttp.ClientSession() as session:
            installed = {
                spec.name: uuid.uuid4().hex for spec in CATALOGUE.values() if spec.install_key
            }
            clients = make_clients(session, config.speechkit, installed=installed)
            for api in apis:
                reason = _skip_reason(config, clients[api].profile, link)
                if reason is not None:
                    findings.append(Finding("skipped", api, reason))
                    continue
                findings.append(await recognise(clients[api], api, link, data, wait_s))
        if key is not None:
            try:
                await storage.delete(key)
            except StorageError as exc:
                findings.append(Finding("error", "storage", f"deleting {key}: {exc.message}"))
    return findings


def _print(finding: Finding, out: TextIO) -> None:
    print(f"{finding.status}: {finding.what}: {finding.detail}", file=out, flush=True)


def run(args: argparse.Namespace) -> int:
    """Handler of ``probe``: 0 when everything tried worked, 1 otherwise."""
    config = load_config(args.config)
    apis = list(dict.fromkeys(args.api or CATALOGUE))
    print(
        f"probe: a {CLIP_S:g} s clip through {', '.join(apis)}: at most "
        f"{billable_plan(apis):g} s of billable audio (a file bills at least "
        f"{c.BILLING_MIN_S_PER_PAIR:g} s)",
        flush=True,
    )
    findings = asyncio.run(probe(config, apis, args.wait))
    for finding in findings:
        _print(finding, sys.stdout)
    return 1 if any(f.status == "error" for f in findings) else 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``probe`` subcommand."""
    parser = subparsers.add_parser(
        "probe",
        help="check the credentials, the bucket and one short recognition per API",
        description=(
            "Before a batch, try the real service with the config's credentials: upload a "
            "generated 1.5 s clip to the bucket and read it back, then recognise it once "
            "through each API. Says first how much billable audio it spends. Exit status 1 "
            "when anything failed."
        ),
    )
    parser.add_argument("--config", type=Path, required=True, help="the daemon's config")
    parser.add_argument(
        "--api",
        action="append",
        choices=list(CATALOGUE),
        help="an API to try, repeatable (default: all; asr_xml only with an API key)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=DEFAULT_WAIT_S,
        metavar="SECONDS",
        help="how long to wait for an operation (default: %(default)g)",
    )
    parser.set_defaults(handler=run)
