"""What a file is converted to, and the choice of it for speech."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from orchestrator.core.audio import Encoding

if TYPE_CHECKING:
    # Only its name: the daemon chooses a target without loading FFmpeg (``media.calls``).
    from orchestrator.media.probe import MediaInfo

# libopus encodes at 8, 12, 16, 24 or 48 kHz only.
NARROWBAND_HZ = 8000
WIDEBAND_HZ = 16000
# Telephony carries nothing above 4 kHz: a source at or below 8 kHz gains nothing from more.
# Above that, speech recognition models work at 16 kHz; a higher rate only costs bytes.
# Opus's recommended settings (opus-codec.org, "Recommended Settings"; RFC 6716 section 2.1.1)
# put narrowband speech at 8-12 kbit/s and wideband speech at 16-20 kbit/s for good quality;
# we take a margin above both, as a recogniser hears artefacts a listener forgives.
NARROWBAND_BPS_PER_CHANNEL = 16000
WIDEBAND_BPS_PER_CHANNEL = 24000
# Opus in Ogg carries up to 8 channels (mapping family 1, RFC 7845 section 5.1.1).
OPUS_MAX_CHANNELS = 8
# Bump when the conversion's output would change for the same settings (encoder options).
CONVERSION_VERSION = 1


@dataclass(frozen=True)
class Target:
    """What a file is converted to; `key` names it in content addresses (change it when the
    conversion's output would change)."""

    container: Literal["ogg", "wav"]
    codec: Literal["libopus", "pcm_s16le"]
    sample_rate: int
    channels: int
    bit_rate: int  # bits/s for all channels (0 for PCM)

    @property
    def key(self) -> str:
        """The settings as a name, e.g. ``ogg-opus-16000-2ch-48000-v1``."""
        codec = "opus" if self.codec == "libopus" else "pcm16"
        return (
            f"{self.container}-{codec}-{self.sample_rate}-{self.channels}ch-"
            f"{self.bit_rate}-v{CONVERSION_VERSION}"
        )

    @classmethod
    def from_key(cls, key: str) -> Target:
        """The target a ``key`` names (what a job keeps of its conversion); ValueError for
        a key of another conversion version or no key at all."""
        parts = key.split("-")
        if len(parts) != 6 or parts[5] != f"v{CONVERSION_VERSION}" or not parts[3].endswith("ch"):
            raise ValueError(f"not a conversion of this version: {key!r}")
        container, codec, rate, channels, bit_rate = (
            parts[0],
            parts[1],
            parts[2],
            parts[3],
            parts[4],
        )
        if (container, codec) not in (("ogg", "opus"), ("wav", "pcm16")):
            raise ValueError(f"not a conversion of this version: {key!r}")
        return cls(
            "ogg" if container == "ogg" else "wav",
            "libopus" if codec == "opus" else "pcm_s16le",
            int(rate),
            int(channels[:-2]),
            int(bit_rate),
        )

    @property
    def encoding(self) -> Encoding:
        """The service's name for the output's encoding."""
        return "OGG_OPUS" if self.codec == "libopus" else "LINEAR16_PCM"


def speech_target(info: MediaInfo) -> Target:
    """Ogg Opus for speech, channels kept (up to Opus's 8 in Ogg), 8 kHz for telephony sources,
    else 16 kHz, at a bit rate per channel suited to that band."""
    channels = min(max(info.channels, 1), OPUS_MAX_CHANNELS)
    if info.sample_rate <= NARROWBAND_HZ:
        rate, per_channel = NARROWBAND_HZ, NARROWBAND_BPS_PER_CHANNEL
    else:
        rate, per_channel = WIDEBAND_HZ, WIDEBAND_BPS_PER_CHANNEL
    return Target("ogg", "libopus", rate, channels, per_channel * channels)


def pcm_target(info: MediaInfo, sample_rate: int) -> Target:
    """16-bit PCM WAV at ``sample_rate``, channels kept (for APIs that take only LPCM)."""
    return Target("wav", "pcm_s16le", sample_rate, max(info.channels, 1), 0)
