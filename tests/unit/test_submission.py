"""What is asked of the service for a job."""

from __future__ import annotations

import pytest

from orchestrator.core.jobs import AudioFacts, Job, State
from orchestrator.pipeline.requests import (
    object_suffix,
    object_uri,
    remote_encoding,
    submit_request,
)


def job(facts: AudioFacts | None, object_key: str = "p/abc.pcm", **settings: object) -> Job:
    return Job(
        id=7,
        manifest_id=1,
        manifest_name="m",
        source="/a/b.wav",
        output="b",
        settings={"language": "en-US", "model": "general", **settings},
        settings_key="k",
        priority=0,
        state=State.UPLOADED,
        attempts=0,
        next_action_at=0.0,
        created_at=0.0,
        updated_at=0.0,
        audio=facts,
        object_key=object_key,
    )


WAV = AudioFacts("LINEAR16_PCM", 4.0, 2, 8000, 44, 128000, "wav")
OGG = AudioFacts("OGG_OPUS", 4.0, 2, 48000, 0, 9000, "ogg_opus")


def test_lpcm_carries_rate_and_channels_others_do_not() -> None:
    lpcm = submit_request(job(WAV, literature_text=True), "https://s/b/k")
    assert (lpcm.encoding, lpcm.sample_rate, lpcm.channels) == ("LINEAR16_PCM", 8000, 2)
    assert lpcm.literature_text is True
    assert lpcm.language == "en-US"
    ogg = submit_request(job(OGG), "https://s/b/k")
    assert (ogg.encoding, ogg.sample_rate, ogg.channels) == ("OGG_OPUS", None, 1)
    with pytest.raises(ValueError, match="no audio facts"):
        submit_request(job(None), "https://s/b/k")


def test_object_links_and_names() -> None:
    base = "https://storage.yandexcloud.net"
    assert object_uri(job(WAV), base, "bucket") == f"{base}/bucket/p/abc.pcm"
    assert object_uri(job(WAV, "s3://other/x/y.ogg"), base, "bucket") == f"{base}/other/x/y.ogg"
    assert object_suffix("MP3") == ".mp3"
    assert object_suffix("LINEAR16_PCM") == ".pcm"
    assert remote_encoding("in/x.OPUS", None) == "OGG_OPUS"
    assert remote_encoding("in/x.wav", None) is None  # a WAV header is not raw LPCM
    assert remote_encoding("in/x.bin", "MP3") == "MP3"
