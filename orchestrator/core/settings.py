"""How one file is recognised: the typed settings a job carries from manifest to request."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from orchestrator.core import constants as c
from orchestrator.core.audio import Encoding

Api = Literal["v2", "v3", "asr_xml"]


@dataclass(frozen=True)
class RecognitionSettings:
    """The manifest's defaults merged with an entry's overrides; the defaults live here only."""

    language: str = c.DEFAULT_LANGUAGE
    model: str = c.DEFAULT_MODEL
    profanity_filter: bool = False
    literature_text: bool = False
    raw_results: bool = False
    encoding: Encoding | None = None  # None: detected from the bytes
    sample_rate: int | None = None
    channels: int | None = None
    api: Api = "v2"
    priority: int = 0

    def key(self) -> str:
        """Canonical JSON of the fields that change the result (all but priority): two jobs
        with the same audio and the same key are recognised once."""
        fields = self.to_dict()
        del fields["priority"]
        return json.dumps(fields, sort_keys=True, separators=(",", ":"))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RecognitionSettings:
        """Inverse of ``to_dict``; fields missing from ``data`` (a row written by an older
        version) take their defaults, unknown ones are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
