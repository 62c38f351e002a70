"""What is known about one audio file, and the format facts every layer shares (pure)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath
from typing import Any, Literal

Encoding = Literal["OGG_OPUS", "MP3", "LINEAR16_PCM"]
# "converted": a file FFmpeg decodes, sent as the conversion it names (``AudioFacts``).
Container = Literal["ogg_opus", "mp3", "wav", "raw", "remote", "converted"]

ENCODING_OF: dict[Container, Encoding] = {
    "ogg_opus": "OGG_OPUS",
    "mp3": "MP3",
    "wav": "LINEAR16_PCM",
    "raw": "LINEAR16_PCM",
}
# What an object key's extension tells of an object we did not probe. A WAV object cannot
# be sent to API v2 as it is: its header is not raw LPCM, so ".wav" tells nothing here.
_EXTENSION_ENCODING: dict[str, Encoding] = {
    ".ogg": "OGG_OPUS",
    ".opus": "OGG_OPUS",
    ".oga": "OGG_OPUS",
    ".mp3": "MP3",
    ".raw": "LINEAR16_PCM",
    ".pcm": "LINEAR16_PCM",
    ".lpcm": "LINEAR16_PCM",
}
_SUFFIX: dict[str, str] = {"OGG_OPUS": ".ogg", "MP3": ".mp3", "LINEAR16_PCM": ".pcm"}


@dataclass(frozen=True)
class AudioFacts:
    """What the probe found (or the manifest declared, for an object already in storage):
    persisted with the job, so a restart need not probe again.

    ``data_offset``/``data_length`` name the bytes to upload (a WAV file's PCM data only);
    a duration of 0 means unknown (an object already in storage is never fetched). A file
    sent converted has ``conversion`` (the target's key: what it becomes) and ``source``
    (what it is, for people); its ``encoding``, ``channels`` and ``sample_rate`` are the
    converted audio's, ``duration_s`` the file's, and its data range the whole file.
    """

    encoding: Encoding
    duration_s: float
    channels: int
    sample_rate: int
    data_offset: int
    data_length: int
    container: Container
    size_bytes: int = 0
    conversion: str | None = None
    source: str = ""

    @property
    def audio_seconds_all_channels(self) -> float:
        """Processing time scales with the audio of every channel."""
        return self.duration_s * self.channels

    @property
    def converted(self) -> bool:
        """Sent as a conversion of the file, not as its own bytes."""
        return self.conversion is not None

    def to_json(self) -> str:
        """Compact JSON for the store (the fields added later left out at their defaults,
        so rows of unconverted audio read the same in an older version)."""
        data = asdict(self)
        if self.conversion is None:
            del data["conversion"], data["source"]
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> AudioFacts:
        """Inverse of ``to_json``; fields added later take their defaults in older rows."""
        data: dict[str, Any] = json.loads(text)
        return cls(**data)


def object_suffix(encoding: str) -> str:
    """The extension of an uploaded object: what it holds, for people browsing the bucket."""
    return _SUFFIX.get(encoding, "")


def encoding_of_key(key: str) -> Encoding | None:
    """The encoding an object key's extension promises, or None when it promises none."""
    return _EXTENSION_ENCODING.get(PurePosixPath(key).suffix.lower())
