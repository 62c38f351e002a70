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
    # v2 and v3 differ in their service's root only: both start and check operations.
    clients: list[RecognitionClient] = [
        api(session, url, config.operation_url, credentials, config.request_timeout_s)
        for api, url in ((V2Client, config.transcribe_url), (V3Client, config.stt_v3_url))
    ]
    clients.append(
        AsrXmlClient(
            session,
            asr_xml_url=config.asr_xml_url,
            api_key=credentials.api_key,
            device_uuid=installed[ASR_XML_SPEC.name],
            timeout_s=config.request_timeout_s,
        )
    )
    return {client.profile.name: client for client in clients}
