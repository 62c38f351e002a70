"""What is done to a recording before the service hears it: sent as it is, converted, or
split into parts. Decided from what the probes found and the job's settings (pure: the
probes are the caller's, in a thread or a worker process).

The rules, in order: audio the job's API takes goes as it is (no needless loss) unless the
job says ``convert: always``; audio it does not take (a format, codec, sample size or rate
it refuses, or more bytes than one request carries) is converted (``media.speech_target``)
unless the job says ``convert: never``, which keeps the refusal; audio longer than a part
may be (the API's limit, or ``audio.max_part_s`` when lower) is split into parts at quiet
moments unless the job says ``split: never``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.core.apis import ApiSpec
from orchestrator.core.audio import AudioFacts
from orchestrator.core.constants import MAX_FILE_BYTES
from orchestrator.core.settings import RecognitionSettings
from orchestrator.intake.audio import AudioError, TooLong, Unsupported, check_limits
from orchestrator.media.errors import MediaError
from orchestrator.media.target import Target, speech_target

if TYPE_CHECKING:
    # Only its name: the daemon loads FFmpeg in its media workers, never for a decision.
    from orchestrator.media.probe import MediaInfo

# Containers whose data range is raw samples: a part of them is a range of bytes.
LPCM_CONTAINERS = ("wav", "raw")
# What the native probe found: the facts, or why it would not take the file.
Native = AudioFacts | AudioError


@dataclass(frozen=True)
class Preparation:
    """The audio as it will be sent and in how many parts (1: whole). ``parts`` is the
    fewest the limit allows; the cuts, found at upload in quiet moments, may add one."""

    facts: AudioFacts
    parts: int = 1
    limit_s: float = math.inf

    @property
    def split(self) -> bool:
        """Sent in parts."""
        return self.parts > 1

    def describe(self) -> str | None:
        """What ``validate`` says will be done ("µ-law WAV, 8 kHz, 2 channels: converted
        to Ogg Opus; 4 h 37 min: split into 2 parts"); None when sent as it is, whole."""
        said: list[str] = []
        facts = self.facts
        if facts.converted:
            said.append(f"{facts.source}: converted to {target_label(facts)}")
        if self.split:
            said.append(f"{duration_label(facts.duration_s)}: split into {self.parts} parts")
        return "; ".join(said) or None


def part_limit(spec: ApiSpec, max_part_s: float | None) -> float:
    """The longest part the job's API may be sent: its limit, or the configured one."""
    if max_part_s is None:
        return spec.max_duration_s
    return min(spec.max_duration_s, max_part_s)


def needs_media(
    native: Native, settings: RecognitionSettings, spec: ApiSpec, limit_s: float
) -> bool:
    """Whether FFmpeg must look at the file: the native probe refused it for a reason a
    conversion answers (and the job allows one), the job converts everything, or it is to
    be cut where only a conversion can cut it. Raises the native refusal when nothing can
    answer it (a truncated WAV, a missing file)."""
    if isinstance(native, AudioFacts):
        if settings.convert == "never":
            return False
        return (
            settings.convert == "always"
            or native.data_length > MAX_FILE_BYTES
            or cut_by_converting(native, settings, spec, limit_s)
        )
    if settings.convert == "never" or not isinstance(native, Unsupported | TooLong):
        raise native
    return True


def cut_by_converting(
    facts: AudioFacts, settings: RecognitionSettings, spec: ApiSpec, limit_s: float
) -> bool:
    """A recording to split whose parts are conversions of its time ranges: only raw
    samples (WAV's, raw LPCM's) are cut by their bytes, and only for an API that fetches
    an object (one that takes the audio in the request needs a file with its header)."""
    if facts.converted or facts.duration_s <= limit_s or settings.split == "never":
        return False
    return not spec.uploads or facts.container not in LPCM_CONTAINERS


def decide(
    path: Path,
    settings: RecognitionSettings,
    spec: ApiSpec,
    limit_s: float,
    native: Native,
    media: MediaInfo | None = None,
    size_bytes: int = 0,
) -> Preparation:
    """The preparation of the job's file, from the native probe's finding and (when
    ``needs_media``) FFmpeg's. Raises MediaError when FFmpeg found the file cut short of its
    header's claim, AudioError with the reason when the job's settings refuse what it would
    take (``convert: never``; ``split: never`` and more than the service takes in one
    request). ``size_bytes`` is the file's, for a converted file (hashed whole)."""
    if media is not None:
        cut_short = media.truncation()
        if cut_short is not None:
            # Sent as it is, the service would hear less than the file claims; converted,
            # the conversion would refuse it: refused here, before any work is spent on it.
            raise MediaError(path, cut_short)
        facts = converted_facts(media, speech_target(media), size_bytes)
    elif isinstance(native, AudioFacts):
        facts = native
    else:
        raise native
    if facts.duration_s <= 0:
        raise AudioError(path, "the audio has zero duration (no samples)")
    # A recording only a conversion could cut, with ``convert: never``: whole, or not at all.
    whole = settings.split == "never" or cut_by_converting(facts, settings, spec, limit_s)
    if facts.duration_s <= limit_s or whole:
        if not facts.converted:
            check_limits(path, facts)  # over 4 h or 1 GB as it is: in today's words
        # Sent whole: a limit of the API's own is reported as for any job (``audio_problems``).
        return Preparation(facts)
    return Preparation(facts, math.ceil(facts.duration_s / limit_s), limit_s)


def converted_facts(media: MediaInfo, target: Target, size_bytes: int) -> AudioFacts:
    """The facts of a file sent as its conversion to ``target``: the converted audio's
    encoding, rate and channels, the file's duration, the whole file as the data."""
    return AudioFacts(
        encoding=target.encoding,
        duration_s=media.duration_s,
        channels=target.channels,
        sample_rate=target.sample_rate,
        data_offset=0,
        data_length=size_bytes,
        container="converted",
        size_bytes=size_bytes,
        conversion=target.key,
        source=media.describe(),
    )


def with_size(facts: AudioFacts, size_bytes: int) -> AudioFacts:
    """Converted facts with the file's size, once read (FFmpeg does not say it)."""
    return replace(facts, data_length=size_bytes, size_bytes=size_bytes)


def target_label(facts: AudioFacts) -> str:
    """What a conversion makes, for people: "Ogg Opus" or "16-bit PCM WAV"."""
    return "Ogg Opus" if facts.encoding == "OGG_OPUS" else "16-bit PCM"


def duration_label(seconds: float) -> str:
    """``4 h 37 min``, ``12 min 5 s``, ``31 s``: a duration for people."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{seconds:.1f} s" if seconds < 10 else f"{whole} s"
