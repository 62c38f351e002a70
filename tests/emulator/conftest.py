"""Fixtures of the emulator tests: audio in the moto bucket, a running emulator, a session."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator

import aiohttp
import pytest

from orchestrator.emulator import RunningEmulator
from tests.conftest import S3Server
from tests.emulator.helpers import MONO_MP3, STEREO_OGG, sine_lpcm
from tests.support.emulator import emulator, object_uri
from tests.support.wavs import wav_bytes


@pytest.fixture
def audio(s3_server: S3Server, s3_bucket: str) -> dict[str, str]:
    """Sample objects in a fresh bucket, by name -> storage link."""
    objects = {
        "stereo.ogg": STEREO_OGG.read_bytes(),
        "mono.mp3": MONO_MP3.read_bytes(),
        # 1 s of 16 kHz stereo raw LPCM.
        "stereo16k.raw": sine_lpcm(1.0, 16000, 2),
        # 60 s of 8 kHz mono, quiet but not silent: long enough for numbers and the
        # "profane" word.
        "long8k.raw": b"\x01\x00" * (60 * 8000),
        # 2 s of 16 kHz mono digital silence: nothing to recognise.
        "silence16k.raw": bytes(2 * 16000 * 2),
        "silence.wav": wav_bytes(bytes(16000 * 2), 16000, 1),
        "odd.raw": b"\x01\x02\x03",
        "tone.wav": wav_bytes(sine_lpcm(0.5, 16000, 1), 16000, 1),
        # 4 s of 8 kHz stereo WAV: long enough for a few utterances per channel.
        "stereo.wav": wav_bytes(sine_lpcm(4.0, 8000, 2), 8000, 2),
        "empty.ogg": b"",
        # Raw LPCM whose first sample (-1, -2817) reads as an MPEG frame sync: ff ff, ff f4.
        "sync-ffff.raw": struct.pack("<h", -1) + sine_lpcm(1.0, 8000, 1),
        "sync-fff4.raw": struct.pack("<h", -2817) + sine_lpcm(1.0, 8000, 1),
    }
    client = s3_server.client()
    for key, data in objects.items():
        client.put_object(Bucket=s3_bucket, Key=key, Body=data)  # type: ignore[attr-defined]
    return {key: object_uri(s3_bucket, key) for key in objects}


@pytest.fixture
async def emu(s3_server: S3Server) -> AsyncIterator[RunningEmulator]:
    """An emulator with the test defaults (fast clock, no faults)."""
    async with emulator(s3_server) as running:
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client session, closed after the test."""
    async with aiohttp.ClientSession() as client:
        yield client
