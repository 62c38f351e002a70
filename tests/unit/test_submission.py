"""What is asked of the service for a job, and the object facts it rests on."""

from __future__ import annotations

import dataclasses

import pytest

from orchestrator.core.audio import AudioFacts, encoding_of_key, object_suffix
from orchestrator.core.jobs import Job, State
from orchestrator.core.refs import ObjectRef
from orchestrator.core.settings import RecognitionSettings
from orchestrator.pipeline.requests import object_ref, submit_request


def job(facts: AudioFacts | None, object_key: str = "p/abc.pcm", **settings: object) -> Job:
    base = RecognitionSettings(language="en-US", model="general")
    return Job(
        id=7,
        manifest_id=1,
        manifest_name="m",
        source="/a/b.wav",
        output="b",
        settings=dataclasses.replace(base, **settings),  # type: ignore[arg-type]
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
    assert object_ref(job(WAV), "bucket").link(base) == f"{base}/bucket/p/abc.pcm"
    other = object_ref(job(WAV, "s3://other/x/y.ogg"), "bucket")
    assert other.link(base) == f"{base}/other/x/y.ogg"
    assert object_suffix("MP3") == ".mp3"
    assert object_suffix("LINEAR16_PCM") == ".pcm"
    assert encoding_of_key("in/x.OPUS") == "OGG_OPUS"
    assert encoding_of_key("in/x.wav") is None  # a WAV header is not raw LPCM
    assert encoding_of_key("in/x.bin") is None


def test_object_refs_parse_and_percent_encode_their_keys() -> None:
    ref = ObjectRef.parse("s3://calls.2024/in/a b#1?.ogg")
    assert (ref.bucket, ref.key, str(ref)) == (
        "calls.2024",
        "in/a b#1?.ogg",
        "s3://calls.2024/in/a b#1?.ogg",
    )
    assert ref.link("https://s/") == "https://s/calls.2024/in/a%20b%231%3F.ogg"
    assert ObjectRef("b-1", "д/ж.mp3").link("https://s") == "https://s/b-1/%D0%B4/%D0%B6.mp3"
    for bad in (
        "s3://",
        "s3://bucket",
        "s3://bucket/",
        "s3://Bad_Bucket/k",
        "http://b/k",
        "s3://ab/k/",
    ):
        with pytest.raises(ValueError, match="s3://"):
            ObjectRef.parse(bad)
