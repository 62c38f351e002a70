"""The clients of the APIs this daemon drives, built from the config, keyed by API name."""

from __future__ import annotations

import aiohttp

from orchestrator.config import SpeechKitConfig

from .base import RecognitionClient
from .v2 import V2Client


def make_clients(
    session: aiohttp.ClientSession, config: SpeechKitConfig
) -> dict[str, RecognitionClient]:
    """One client per API, over the daemon's one HTTP session."""
    v2 = V2Client(
        session,
        transcribe_url=config.transcribe_url,
        operation_url=config.operation_url,
        auth_header=config.auth_header,
        timeout_s=config.request_timeout_s,
    )
    return {v2.profile.name: v2}
