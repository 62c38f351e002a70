"""The clients of the APIs this daemon drives, built from the config, keyed by API name."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

from orchestrator.auth import Credentials
from orchestrator.config import SpeechKitConfig

from .asr_xml import ASR_XML_SPEC, AsrXmlClient
from .base import RecognitionClient
from .v2 import V2Client
from .v3 import V3Client


def make_clients(
    session: aiohttp.ClientSession,
    config: SpeechKitConfig,
    *,
    installed: Mapping[str, str],
    credentials: Credentials | None = None,
) -> dict[str, RecognitionClient]:
    """One client per API, over the daemon's one HTTP session. ``installed`` holds, by API,
    the value kept in the store under its spec's ``install_key`` (the legacy API's 32 hex
    digits of installation id); ``credentials`` (by default the config's, unshared)
    authenticate every request."""
    credentials = credentials or Credentials(config, session)
    clients: list[RecognitionClient] = [
        V2Client(
            session,
            transcribe_url=config.transcribe_url,
            operation_url=config.operation_url,
            auth_header=credentials,
            timeout_s=config.request_timeout_s,
        ),
        V3Client(
            session,
            stt_url=config.stt_v3_url,
            operation_url=config.operation_url,
            auth_header=credentials,
            timeout_s=config.request_timeout_s,
        ),
        AsrXmlClient(
            session,
            asr_xml_url=config.asr_xml_url,
            api_key=credentials.api_key,
            device_uuid=installed[ASR_XML_SPEC.name],
            timeout_s=config.request_timeout_s,
        ),
    ]
    return {client.profile.name: client for client in clients}
