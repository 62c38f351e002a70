"""The catalogue of the APIs this daemon drives, built here once from each client module's
spec and passed to whoever needs it (the first is a manifest's default API)."""

from __future__ import annotations

from orchestrator.core.apis import ApiCatalogue

from .asr_xml import ASR_XML_SPEC
from .v2 import V2_SPEC
from .v3 import V3_SPEC

CATALOGUE = ApiCatalogue((V2_SPEC, V3_SPEC, ASR_XML_SPEC))
