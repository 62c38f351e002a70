"""Names for people of what FFmpeg reads: "µ-law WAV", "M4A (AAC)", "Ogg Vorbis"."""

from __future__ import annotations

WAV_CODECS = {
    "pcm_mulaw": "µ-law WAV",
    "pcm_alaw": "A-law WAV",
    "gsm_ms": "GSM WAV",
    "adpcm_ima_wav": "ADPCM WAV",
    "adpcm_ms": "ADPCM WAV",
    "adpcm_g726": "G.726 WAV",
    "g723_1": "G.723.1 WAV",
    "pcm_u8": "8-bit PCM WAV",
    "pcm_s16le": "16-bit PCM WAV",
    "pcm_s24le": "24-bit PCM WAV",
    "pcm_s32le": "32-bit PCM WAV",
    "pcm_f32le": "32-bit float WAV",
    "pcm_f64le": "64-bit float WAV",
    "mp3": "MP3 in WAV",
}
CODEC_NAMES = {
    "aac": "AAC",
    "alac": "ALAC",
    "mp3": "MP3",
    "opus": "Opus",
    "vorbis": "Vorbis",
    "flac": "FLAC",
    "speex": "Speex",
    "amr_nb": "AMR",
    "amr_wb": "AMR-WB",
    "pcm_s16le": "PCM",
    "pcm_s16be": "PCM",
}
# FFmpeg's format name (first of its aliases) -> the name people know.
SIMPLE_FORMATS = {
    "flac": "FLAC",
    "mp3": "MP3",
    "aiff": "AIFF",
    "amr": "AMR",
    "au": "Sun AU",
    "caf": "CAF",
    "w64": "Wave64",
    "gsm": "GSM",
    "aac": "AAC (ADTS)",
    "asf": "WMA",
}


def label_of(container: str, codec: str, has_video: bool, suffix: str) -> str:
    """A label for people from FFmpeg's format and codec names (and the file's suffix, which
    tells M4A from MP4 and WebM from Matroska, as FFmpeg names each pair alike)."""
    family = container.split(",", maxsplit=1)[0]
    codec_name = CODEC_NAMES.get(codec, codec)
    if family == "wav":
        return WAV_CODECS.get(codec, f"WAV ({codec})")
    if family == "ogg":
        return f"Ogg {codec_name}"
    if family in ("mov", "matroska"):
        name = _boxed_name(family, has_video, suffix.lower())
        return f"{name} ({codec_name}, with video)" if has_video else f"{name} ({codec_name})"
    if family == "amr" and codec == "amr_wb":
        return "AMR-WB"
    return SIMPLE_FORMATS.get(family, f"{family} ({codec_name})")


def _boxed_name(family: str, has_video: bool, suffix: str) -> str:
    if family == "matroska":
        return "WebM" if suffix == ".webm" else "Matroska"
    if suffix == ".mov":
        return "MOV"
    return "MP4" if has_video or suffix in (".mp4", ".m4v") else "M4A"
