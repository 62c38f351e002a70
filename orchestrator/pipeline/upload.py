"""The first step: probe a local file and upload it (once per content), or take an object
already in storage as it is; then decide which job recognises that content. For an API
that takes the audio in its request (asr_xml), the file is probed and the recognition
settled, but nothing is uploaded."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from orchestrator.core.apis import ApiCatalogue, audio_problems, source_problem
from orchestrator.core.audio import AudioFacts, encoding_of_key, object_suffix
from orchestrator.core.decisions import Failure, after_failure, retry_or_give_up
from orchestrator.core.failures import ErrorKind, ReasonClass
from orchestrator.core.jobs import Job, Stage, State
from orchestrator.core.output_options import names_problem
from orchestrator.core.parts import Part
from orchestrator.core.refs import ObjectRef
from orchestrator.intake import audio
from orchestrator.intake.preparation import Preparation, with_size
from orchestrator.intake.roots import real_path
from orchestrator.media.errors import MediaError
from orchestrator.media.target import Target
from orchestrator.pipeline.context import Context
from orchestrator.pipeline.prepare import Prepared, prepare
from orchestrator.pipeline.requests import converted_file
from orchestrator.pipeline.transitions import Transitions
from orchestrator.storage.protocol import StorageError
from orchestrator.store.types import DuplicateRecognition
from orchestrator.telemetry.logs import get_logger

log = get_logger()

# A follower is woken by its leader's end; this only bounds a lost wake-up.
WAIT_FOR_LEADER_S = 3600.0


def file_sha256(path: Path, length: int) -> str:
    """The sha256 of a converted file's bytes, which the upload is checked against."""
    digest = hashlib.sha256()
    for chunk in audio.read_range(path, 0, length):
        digest.update(chunk)
    return digest.hexdigest()


def audio_refusal(job: Job, facts: AudioFacts, apis: ApiCatalogue) -> str | None:
    """Why the job's audio cannot be recognised as its settings ask, or None. `validate`
    says the same offline; a manifest taken as it is meets it here."""
    problems = audio_problems(job.settings, facts, apis)
    names = names_problem(job.output_options, facts.channels)
    if names is not None:
        problems.append(("channel_names", names))
    if not problems:
        return None
    reason = "; ".join(f"{setting}: {message}" for setting, message in problems)
    return f"{job.source}: {reason}"


def storage_error_kind(exc: StorageError) -> ErrorKind:
    """What a storage failure means for the job that met it."""
    if exc.bucket_wide:
        return ErrorKind.BUCKET
    return ErrorKind.RETRYABLE if exc.retryable else ErrorKind.PERMANENT


class Upload:
    """Probe, upload, and settle which job leads the recognition of each content."""

    def __init__(self, ctx: Context, transitions: Transitions) -> None:
        self.ctx = ctx
        self.transitions = transitions
        self._key_locks: dict[str, tuple[asyncio.Lock, int]] = {}  # a lock and its users

    async def step(self, job: Job, _entered: bool) -> None:
        """One job of the upload stage."""
        began = self.ctx.clock()
        client = self.ctx.client(job)
        if client is None:
            handled = ", ".join(sorted(self.ctx.clients))
            await self.transitions.fail(
                job,
                f"api {job.settings.api!r} is not handled by this daemon (it handles: {handled})",
                began,
            )
            return
        if not job.is_local:
            await self._remote(job, began)
            return
        probed = await self._prepare(job, began)
        if probed is None:
            return
        if job.part is None and probed.preparation.split:
            await self._split(job, probed, began)
            return
        if not client.profile.uploads:
            await self._in_request(job, probed, began)
            return
        await self._to_storage(job, probed, began)

    async def _remote(self, job: Job, began: float) -> None:
        """An object already in storage, if the job's API takes one."""
        problem = source_problem(job.settings, True, self.ctx.settings.apis)
        if problem is not None:
            await self.transitions.fail(job, f"{job.source}: {problem}", began)
            return
        await self._prepare_remote(job, began)

    async def _in_request(self, job: Job, probed: Prepared, began: float) -> None:
        """The audio goes in the recognition request itself: settle who recognises it,
        with a converted file made first (the request reads it)."""
        facts: AudioFacts | None = probed.facts
        if probed.facts.converted:
            facts = await self._converted(
                job, probed.source, probed.facts, probed.content_hash, began
            )
            if facts is None:
                return
        await self._lead_or_follow(
            job, State.UPLOADED, began, content_hash=probed.content_hash, audio=facts
        )

    async def _to_storage(self, job: Job, probed: Prepared, began: float) -> None:
        """Lead the recognition of this content (or follow the job that does), then
        upload it."""
        facts, content_hash = probed.facts, probed.content_hash
        key = self.ctx.storage.object_key(
            self.ctx.settings.key_prefix, content_hash, object_suffix(facts.encoding)
        )
        if job.state is State.QUEUED:
            moved = await self._lead_or_follow(
                job, State.UPLOADING, began, content_hash=content_hash, audio=facts, object_key=key
            )
            if moved is None:
                return
            job = moved
        await self._upload(job, probed.source, facts, content_hash, key, began)

    async def _prepare(self, job: Job, began: float) -> Prepared | None:
        """The job's file (by its real path) made ready: what is sent and its identity,
        decided once (a restart reads them from the job); None when the job failed for
        its audio (unreadable, or not what it may be)."""
        source = await asyncio.to_thread(self._readable, job)
        if isinstance(source, str):
            await self.transitions.fail(job, source, began, reason_class=ReasonClass.AUDIO)
            return None
        if job.audio is not None and job.content_hash is not None:
            # Decided before a restart (a split whole job is never taken here again).
            return Prepared(source, job.audio, job.content_hash, Preparation(job.audio))
        try:
            prepared = await prepare(self.ctx, job, source)
        except (audio.AudioError, MediaError) as exc:
            await self.transitions.fail(job, str(exc), began, reason_class=ReasonClass.AUDIO)
            return None
        except OSError as exc:
            reason = f"{job.source}: cannot read: {exc.strerror or exc}"
            await self.transitions.fail(job, reason, began, reason_class=ReasonClass.AUDIO)
            return None
        # A recording to split is sent in parts no longer than the limit: a part is what
        # the API must take.
        limit = prepared.preparation.limit_s
        sent = replace(prepared.facts, duration_s=min(prepared.facts.duration_s, limit))
        refused = audio_refusal(job, sent, self.ctx.settings.apis)
        if refused is not None:
            await self.transitions.fail(job, refused, began, reason_class=ReasonClass.AUDIO)
            return None
        return prepared

    async def _split(self, job: Job, probed: Prepared, began: float) -> None:
        """Cut a recording longer than a part may be at its quiet moments; its parts go on
        as jobs of their own, and it waits for them."""
        facts = probed.facts
        try:
            cuts = await self.ctx.media.cuts(
                probed.source, facts.duration_s, probed.preparation.limit_s
            )
        except MediaError as exc:
            await self.transitions.fail(job, str(exc), began, reason_class=ReasonClass.AUDIO)
            return
        parts = [Part(index, len(cuts), start, end) for index, (start, end) in enumerate(cuts)]
        await self.transitions.split(
            job, parts, began, content_hash=probed.content_hash, audio=facts
        )

    async def _converted(
        self, job: Job, source: Path, facts: AudioFacts, content_hash: str, began: float
    ) -> AudioFacts | None:
        """Convert the job's file (or its part's range) to the file that is sent, kept
        under its content hash, so a restart or another job of the same audio finds it
        made; the facts with its size. None when the job failed for it."""
        target_file = converted_file(
            self.ctx.settings.conversions_dir, content_hash, facts.encoding
        )
        try:
            if await asyncio.to_thread(target_file.is_file):
                # Made whole before a restart (a conversion is renamed into place).
                log.info("audio.conversion_found", file=target_file.name)
            else:
                await asyncio.to_thread(target_file.parent.mkdir, parents=True, exist_ok=True)
                target = Target.from_key(facts.conversion or "")
                done = await self.ctx.media.convert(source, target_file, target, facts, job.part)
                log.info(
                    "audio.converted",
                    source_bytes=facts.size_bytes,
                    converted_bytes=done.size_bytes,
                    duration_s=round(done.duration_s, 3),
                )
            size = (await asyncio.to_thread(target_file.stat)).st_size
        except MediaError as exc:
            await self.transitions.fail(job, str(exc), began, reason_class=ReasonClass.AUDIO)
            return None
        except OSError as exc:
            reason = f"{job.source}: converting failed: {exc.strerror or exc}"
            decision = retry_or_give_up(job, job.state, reason, None, self.ctx.circumstances())
            await self.transitions.apply(job, decision, began)
            return None
        return with_size(facts, size)

    def _readable(self, job: Job) -> Path | str:
        """The real path to read the job's file from, or why it may not be read: the input
        roots are checked again here (the config may have changed since the manifest was
        taken, or a link may have), and the file is read by its real path from now on."""
        roots = self.ctx.settings.input_roots
        if roots is not None:
            refused = roots.refusal(Path(job.source))
            if refused is not None:
                return refused
        return real_path(Path(job.source))

    async def _upload(
        self, job: Job, source: Path, facts: AudioFacts, content_hash: str, key: str, began: float
    ) -> None:
        try:
            # Jobs with the same audio (other settings) share the object: one uploads it.
            async with self._key_lock(key):
                if facts.converted:
                    sent = await self._upload_converted(
                        job, source, facts, content_hash, key, began
                    )
                    if sent is None:
                        return
                    facts, uploaded = sent
                else:
                    uploaded = await self.ctx.storage.ensure_uploaded(
                        key,
                        facts.data_length,
                        content_hash,
                        partial(audio.read_range, source, facts.data_offset, facts.data_length),
                    )
        except StorageError as exc:
            failure = Failure(storage_error_kind(exc), str(exc), reason_class=ReasonClass.STORAGE)
            if exc.bucket_wide:
                # The bucket, not this job: the job waits, and uploads wait for a check.
                self.ctx.bucket.close(exc)
            decision = after_failure(Stage.UPLOAD, failure, job, self.ctx.circumstances())
            await self.transitions.apply(job, decision, began)
            return
        except audio.AudioError as exc:
            # The file changed or went away since it was probed.
            await self.transitions.fail(job, str(exc), began, reason_class=ReasonClass.AUDIO)
            return
        if uploaded:
            self.ctx.metrics.uploaded_bytes.inc(facts.data_length)
            log.info(
                "upload.done",
                object_key=key,
                bytes=facts.data_length,
            )
        else:
            log.info("upload.skipped", object_key=key)
        await self.transitions.move(job, State.UPLOADED, began, object_key=key, audio=facts)

    async def _upload_converted(
        self, job: Job, source: Path, facts: AudioFacts, content_hash: str, key: str, began: float
    ) -> tuple[AudioFacts, bool] | None:
        """Upload the conversion of the job's file, made unless the object is there
        already (a restart after the upload converts nothing again); the facts with the
        converted size and whether it uploaded; None when the job failed. The converted
        file goes once uploaded."""
        # The key names the source and the conversion, and an object appears whole or not
        # at all: one there is this conversion, uploaded before a restart.
        there = await self.ctx.storage.head(key)
        if there is not None:
            return with_size(facts, there.size), False
        made = await self._converted(job, source, facts, content_hash, began)
        if made is None:
            return None
        converted = converted_file(self.ctx.settings.conversions_dir, content_hash, facts.encoding)
        sha256 = await asyncio.to_thread(file_sha256, converted, made.data_length)
        uploaded = await self.ctx.storage.ensure_uploaded(
            key, made.data_length, sha256, partial(audio.read_range, converted, 0, made.data_length)
        )
        await asyncio.to_thread(converted.unlink, missing_ok=True)
        return made, uploaded

    async def _lead_or_follow(
        self, job: Job, lead: State, began: float, *, content_hash: str, **fields: Any
    ) -> Job | None:
        """Recognise this content, or reuse (or wait for) another job's recognition of it.

        Returns the job moved to ``lead`` when it is the one to do the work, else None. The
        store enforces one leader per (content, settings), so two jobs racing here cannot
        both submit the same audio.
        """
        store, move = self.ctx.store, self.transitions.move
        facts = fields.get("audio")
        for _ in range(3):
            if await store.get_result(content_hash, job.settings_key) is not None:
                await move(job, State.FETCHING, began, content_hash=content_hash, audio=facts)
                return None
            leader = await store.find_leader(job, content_hash)
            if leader is not None:
                await move(
                    job,
                    State.WAITING,
                    began,
                    content_hash=content_hash,
                    audio=facts,
                    leader_id=leader.id,
                    next_action_at=self.ctx.clock() + WAIT_FOR_LEADER_S,
                )
                return None
            try:
                return await move(job, lead, began, content_hash=content_hash, **fields)
            except DuplicateRecognition:
                continue  # another job became the leader meanwhile: follow it
        reason = "could not settle which job recognises this audio"
        decision = retry_or_give_up(job, job.state, reason, None, self.ctx.circumstances())
        await self.transitions.apply(job, decision)
        return None

    @contextlib.asynccontextmanager
    async def _key_lock(self, key: str) -> AsyncIterator[None]:
        lock, users = self._key_locks.get(key, (asyncio.Lock(), 0))
        self._key_locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._key_locks[key]
            if users == 1:
                del self._key_locks[key]
            else:
                self._key_locks[key] = (lock, users - 1)

    async def _prepare_remote(self, job: Job, began: float) -> None:
        """An ``s3://bucket/key`` entry: already in storage, nothing to probe or upload."""
        ref = ObjectRef.parse(job.source)
        encoding = job.settings.encoding or encoding_of_key(ref.key)
        if encoding is None:
            await self.transitions.fail(
                job,
                f"{job.source}: cannot tell the audio encoding from the key; declare `encoding` "
                "(OGG_OPUS, MP3 or LINEAR16_PCM) in the manifest",
                began,
            )
            return
        facts = AudioFacts(
            encoding=encoding,
            duration_s=0.0,  # unknown: polling starts from the policy's minimum
            channels=job.settings.channels or 1,
            sample_rate=job.settings.sample_rate or 0,
            data_offset=0,
            data_length=0,
            container="remote",
        )
        await self._lead_or_follow(
            job,
            State.UPLOADED,
            began,
            content_hash=f"s3:{ref.bucket}/{ref.key}",
            audio=facts,
            object_key=str(ref),
        )
