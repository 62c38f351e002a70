"""How one file is recognised: the typed settings a job carries from manifest to request."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from orchestrator.core import constants as c
from orchestrator.core.audio import Encoding

# The name of an API in the catalogue (``core.apis.ApiCatalogue``; the intake checks it).
Api = str
Language = str | tuple[str, ...]
"""A language code (``ru-RU``), ``auto``, or several codes (API v3's whitelist)."""
# ``convert``: audio the API does not take is converted (auto), all audio is (always), or
# none is and such audio is refused (never). ``split``: audio longer than the API takes is
# cut into parts (auto) or refused (never).
ConvertMode = Literal["auto", "always", "never"]
SplitMode = Literal["auto", "never"]
CONVERT_MODES: tuple[ConvertMode, ...] = ("auto", "always", "never")
SPLIT_MODES: tuple[SplitMode, ...] = ("auto", "never")
# How the audio is made ready, not what the service is asked: left out of the dedup key
# (the content hash names a conversion and a part already).
_PREPARATION = ("convert", "split")

# Fields added after the first stored rows, with the value those rows meant. The dedup key
# leaves them out while they hold it, so a result cached before they existed still matches.
_ADDED_LATER: dict[str, Any] = {"speaker_labeling": False, "text_normalization": None}


# The priorities a manifest may ask for: a store keeps them in a 64-bit integer, and a
# queue needs no more than a few thousand levels.
MIN_PRIORITY = -1000
MAX_PRIORITY = 1000


@dataclass(frozen=True)
class RecognitionSettings:
    """The manifest's defaults merged with an entry's overrides; the defaults live here only."""

    language: Language = c.DEFAULT_LANGUAGE
    model: str = c.DEFAULT_MODEL
    profanity_filter: bool = False
    literature_text: bool = False
    raw_results: bool = False
    encoding: Encoding | None = None  # None: detected from the bytes
    sample_rate: int | None = None
    channels: int | None = None
    api: Api = "v2"
    priority: int = 0
    # API v3 only: who speaks each utterance (mono audio, at most two speakers).
    speaker_labeling: bool = False
    # API v3 only: text normalisation on or off; None: on exactly when literature_text is.
    text_normalization: bool | None = None
    convert: ConvertMode = "auto"
    split: SplitMode = "auto"

    @property
    def languages(self) -> tuple[str, ...]:
        """The language codes allowed: one, several, or none at all for ``auto``."""
        if isinstance(self.language, tuple):
            return self.language
        return () if self.language == c.AUTO_LANGUAGE else (self.language,)

    def key(self) -> str:
        """Canonical JSON of the fields that change the result (all but priority and how
        the audio is prepared): two jobs with the same audio and the same key are
        recognised once."""
        fields = self.to_dict()
        del fields["priority"]
        for name in _PREPARATION:
            del fields[name]
        for name, default in _ADDED_LATER.items():
            if fields[name] == default:
                del fields[name]
        return json.dumps(fields, sort_keys=True, separators=(",", ":"))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping of every field (a language list as a list)."""
        fields = dataclasses.asdict(self)
        if isinstance(self.language, tuple):
            fields["language"] = list(self.language)
        return fields

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RecognitionSettings:
        """Inverse of ``to_dict``; fields missing from ``data`` (a row written by an older
        version) take their defaults, unknown ones are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        if isinstance(values.get("language"), list):
            values["language"] = tuple(values["language"])
        return cls(**values)
