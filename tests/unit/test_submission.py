"""What is asked of the service for a job, and the object facts it rests on."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from orchestrator.core.audio import AudioFacts, encoding_of_key, object_suffix
from orchestrator.core.jobs import Job, State
from orchestrator.core.refs import ObjectRef
from orchestrator.core.settings import RecognitionSettings
from orchestrator.pipeline.requests import local_audio, object_ref, submit_request
from orchestrator.speechkit.v2 import v2_request_body
from orchestrator.speechkit.v3 import v3_request_body


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


def test_lpcm_carries_its_rate_every_request_the_channels() -> None:
    lpcm = submit_request(job(WAV, literature_text=True), "https://s/b/k")
    assert (lpcm.encoding, lpcm.sample_rate, lpcm.channels) == ("LINEAR16_PCM", 8000, 2)
    assert lpcm.literature_text is True
    assert lpcm.language == "en-US"
    ogg = submit_request(job(OGG), "https://s/b/k")
    assert (ogg.encoding, ogg.sample_rate, ogg.channels) == ("OGG_OPUS", None, 2)
    # v2's body says the channel count for raw LPCM only (a container tells its own).
    spec = v2_request_body(ogg)["config"]["specification"]
    assert "audioChannelCount" not in spec
    assert v2_request_body(lpcm)["config"]["specification"]["audioChannelCount"] == 2
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


def test_v3_body_raw_audio_for_lpcm_container_for_the_others() -> None:
    lpcm = v3_request_body(submit_request(job(WAV), "https://s/b/k"))
    assert lpcm["uri"] == "https://s/b/k"
    model = lpcm["recognitionModel"]
    assert model["audioFormat"] == {
        "rawAudio": {
            "audioEncoding": "LINEAR16_PCM",
            "sampleRateHertz": 8000,
            "audioChannelCount": 2,
        }
    }
    assert model["languageRestriction"] == {
        "restrictionType": "WHITELIST",
        "languageCode": ["en-US"],
    }
    assert model["textNormalization"]["textNormalization"] == "TEXT_NORMALIZATION_DISABLED"
    assert lpcm["speakerLabeling"] == {"speakerLabeling": "SPEAKER_LABELING_DISABLED"}
    ogg = v3_request_body(submit_request(job(OGG), "https://s/b/k"))
    assert ogg["recognitionModel"]["audioFormat"] == {
        "containerAudio": {"containerAudioType": "OGG_OPUS"}
    }


def test_v3_body_languages_normalisation_and_speakers() -> None:
    auto = v3_request_body(submit_request(job(OGG, language="auto"), "u"))
    assert "languageRestriction" not in auto["recognitionModel"]
    several = v3_request_body(submit_request(job(OGG, language=("ru-RU", "kk-KZ")), "u"))
    assert several["recognitionModel"]["languageRestriction"]["languageCode"] == ["ru-RU", "kk-KZ"]
    # Normalisation follows literature_text unless text_normalization says otherwise.
    literary = v3_request_body(submit_request(job(OGG, literature_text=True), "u"))
    normal = literary["recognitionModel"]["textNormalization"]
    assert normal == {
        "textNormalization": "TEXT_NORMALIZATION_ENABLED",
        "profanityFilter": False,
        "literatureText": True,
    }
    off = v3_request_body(
        submit_request(job(OGG, literature_text=True, text_normalization=False), "u")
    )
    assert off["recognitionModel"]["textNormalization"]["textNormalization"] == (
        "TEXT_NORMALIZATION_DISABLED"
    )
    labelled = v3_request_body(submit_request(job(OGG, speaker_labeling=True), "u"))
    assert labelled["speakerLabeling"] == {"speakerLabeling": "SPEAKER_LABELING_ENABLED"}


def test_a_local_file_is_read_in_chunks_by_range(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    path.write_bytes(b"RIFF" + bytes(range(200)))
    facts = AudioFacts("LINEAR16_PCM", 1.0, 1, 16000, 44, 160, "wav", size_bytes=204)
    local = local_audio(dataclasses.replace(job(facts, object_key=""), source=str(path)))
    assert (local.container, local.size_bytes, local.data_offset) == ("wav", 204, 44)
    assert b"".join(local.read(0, 204)) == path.read_bytes()
    assert b"".join(local.read(44, 160)) == path.read_bytes()[44:]
    with pytest.raises(ValueError, match="no probed local file"):
        local_audio(dataclasses.replace(job(facts), source="s3://b/k.wav"))
