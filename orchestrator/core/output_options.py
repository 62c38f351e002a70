"""What is written for a job (pure): the output formats chosen and the names of its channels.

These are choices about the files, not about recognition: the service is asked the same
whatever they say, so they are kept apart from ``RecognitionSettings`` and never enter its
dedup key. Two jobs of the same audio that differ only here are recognised once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Every format a job can have written, and the ones written when a manifest chooses none.
FORMATS = ("json", "txt", "srt", "vtt", "conversation")
DEFAULT_FORMATS = ("json", "txt", "srt", "vtt")
# What a job may ask for that is the manifest's, not a file of its own: ``dataset``, every
# transcript of the manifest as one table beside its report, made from the jobs' JSON.
MANIFEST_OUTPUTS = ("dataset",)
DATASET = "dataset"
# Formats made of times (cues, turns in time order): an API without timings cannot give them.
TIMED_FORMATS = ("srt", "vtt", "conversation")
# A channel name becomes part of a file name (``<output>.<name>.txt``): letters (any
# script), digits, ``_`` and ``-``, no dot, and none a format's or a default file's name.
CHANNEL_NAME_RE = re.compile(r"[^\W][\w-]{0,39}")
_RESERVED_NAME_RE = re.compile(r"ch\d+|json|txt|srt|vtt|conversation|report", re.IGNORECASE)


def channel_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a channel, or None when it can."""
    if not CHANNEL_NAME_RE.fullmatch(name):
        return (
            "must be 1-40 letters, digits, '_' or '-', starting with a letter or digit "
            "(it becomes part of a file name)"
        )
    if _RESERVED_NAME_RE.fullmatch(name):
        return f"{name!r} is the name of another output file; choose another"
    return None


def default_channel_label(channel: int) -> str:
    """What a channel without a name is called in a conversation: ``Channel 2``."""
    return f"Channel {channel}"


@dataclass(frozen=True)
class OutputOptions:
    """The formats to write and the names of the channels (channel 1 first); the
    defaults live here only."""

    formats: tuple[str, ...] = DEFAULT_FORMATS
    channel_names: tuple[str, ...] = ()

    def name_of(self, channel: int) -> str | None:
        """The name given to ``channel`` (numbered from 1), or None."""
        if 1 <= channel <= len(self.channel_names):
            return self.channel_names[channel - 1]
        return None

    def names(self) -> dict[int, str]:
        """Channel number -> name, for the channels that have one."""
        return {index + 1: name for index, name in enumerate(self.channel_names)}

    def written(self, timings: bool) -> tuple[str, ...]:
        """The formats written for the job when the API gives ``timings`` (or not: no timed
        formats); what is the manifest's (the dataset) is not among them."""
        return tuple(
            f
            for f in self.formats
            if f not in MANIFEST_OUTPUTS and (timings or f not in TIMED_FORMATS)
        )

    @property
    def dataset(self) -> bool:
        """Whether the job asks for its manifest's dataset."""
        return DATASET in self.formats

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (``from_dict`` reads it back)."""
        return {"formats": list(self.formats), "channel_names": list(self.channel_names)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> OutputOptions:
        """Inverse of ``to_dict``; None or missing keys (a row from before they existed)
        mean the defaults."""
        if not data:
            return cls()
        default = cls()
        return cls(
            formats=tuple(str(f) for f in data.get("formats", default.formats)),
            channel_names=tuple(str(n) for n in data.get("channel_names", ())),
        )


def names_problem(options: OutputOptions, channels: int) -> str | None:
    """Why ``options``' channel names do not fit audio of ``channels`` channels, or None.
    A recording with fewer channels than names takes the first names (a folder of stereo
    calls may hold a mono voicemail); one with more is refused, as nobody said which
    voice its extra channels carry."""
    named = len(options.channel_names)
    if not named or channels <= named:
        return None
    given = "1 name" if named == 1 else f"{named} names"
    return (
        f"channel_names gives {given} but the audio has {channels} channels: "
        "give a name for each channel"
    )
