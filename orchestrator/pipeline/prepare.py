"""The daemon's first look at a job's file: what is done to it (sent as it is, converted,
split; ``intake.preparation`` decides) and the identity of what is sent, the content hash
the dedup and the result cache key on. The native probe reads headers in a thread; FFmpeg
looks at a file only when the native probe cannot take it, in a worker process."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

from orchestrator.core.audio import AudioFacts
from orchestrator.core.jobs import Job
from orchestrator.core.parts import Part, part_facts
from orchestrator.core.settings import RecognitionSettings
from orchestrator.intake import audio
from orchestrator.intake.preparation import (
    Native,
    Preparation,
    decide,
    needs_media,
    part_limit,
)
from orchestrator.pipeline.context import Context


@dataclass(frozen=True)
class Prepared:
    """A job's file made ready: what is sent (a part's own, for a part job) and its
    identity, and what was decided for the whole file."""

    source: Path
    facts: AudioFacts
    content_hash: str
    preparation: Preparation


def native_probe(source: Path, settings: RecognitionSettings) -> Native:
    """The native probe's facts, or its refusal (kept: a conversion may answer it)."""
    try:
        return audio.identify(
            source,
            encoding=settings.encoding,
            sample_rate=settings.sample_rate,
            channels=settings.channels,
        )
    except audio.AudioError as exc:
        return exc


async def prepare(ctx: Context, job: Job, source: Path) -> Prepared:
    """Decide what is done to the job's file and name what is sent. Raises AudioError or
    MediaError (the file, or the job's settings, refuse it) or OSError."""
    if job.part is not None:
        parent = None if job.parent_id is None else await ctx.store.get_job(job.parent_id)
        if parent is not None and parent.audio is not None and parent.content_hash is not None:
            # The whole file was prepared when it was split: a part needs only its range.
            facts, digest = await asyncio.to_thread(
                part_identity, source, parent.audio, parent.content_hash, job.part
            )
            return Prepared(source, facts, digest, Preparation(parent.audio))
    settings = job.settings
    native = await asyncio.to_thread(native_probe, source, settings)
    spec = ctx.settings.apis[settings.api]
    limit = part_limit(spec, ctx.settings.max_part_s)
    media, size = None, 0
    if needs_media(native, settings, spec, limit):
        size = (await asyncio.to_thread(source.stat)).st_size
        media = await ctx.media.info(source, job.source, size)
    preparation = decide(source, settings, spec, limit, native, media, size)
    whole = await asyncio.to_thread(identity, source, preparation.facts)
    if job.part is None:
        return Prepared(source, preparation.facts, whole, preparation)
    facts, digest = await asyncio.to_thread(
        part_identity, source, preparation.facts, whole, job.part
    )
    return Prepared(source, facts, digest, preparation)


def identity(source: Path, facts: AudioFacts) -> str:
    """The content hash of what is sent: the sha256 of the bytes uploaded as they are, or
    of the file and the conversion's key for a converted file (so two conversions of one
    file differ, and one conversion of two copies is recognised once)."""
    digest = audio.content_hash(source, facts)
    if facts.conversion is None:
        return digest
    return hashlib.sha256(f"{digest}|{facts.conversion}".encode()).hexdigest()


def part_identity(
    source: Path, facts: AudioFacts, whole: str, part: Part
) -> tuple[AudioFacts, str]:
    """A part's facts and content hash: a byte range of LPCM, hashed as it is uploaded;
    else the conversion of its time range, named by the whole's identity and the range."""
    if facts.conversion is None:
        sub = part_facts(facts, part)
        if sub is None:  # the decision converts what cannot be cut by its bytes
            raise audio.AudioError(source, f"{part.label}: only LPCM audio is cut by its bytes")
        return sub, audio.content_hash(source, sub)
    facts = replace(facts, duration_s=part.end_s - part.start_s)
    name = f"{whole}|{part.start_s!r}-{part.end_s!r}"
    return facts, hashlib.sha256(name.encode()).hexdigest()
