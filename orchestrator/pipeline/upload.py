"""The first step: probe a local file and upload it (once per content), or take an object
already in storage as it is; then decide which job recognises that content. For an API
that takes the audio in its request (asr_xml), the file is probed and the recognition
settled, but nothing is uploaded."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

from orchestrator.core.apis import ApiCatalogue, audio_problems, source_problem
from orchestrator.core.audio import AudioFacts, encoding_of_key, object_suffix
from orchestrator.core.decisions import Failure, after_failure, retry_or_give_up
from orchestrator.core.failures import ErrorKind, ReasonClass
from orchestrator.core.jobs import Job, Stage, State
from orchestrator.core.output_options import names_problem
from orchestrator.core.parts import part_facts
from orchestrator.core.refs import ObjectRef
from orchestrator.intake import audio
from orchestrator.intake.roots import real_path
from orchestrator.pipeline.context import Context
from orchestrator.pipeline.transitions import Transitions
from orchestrator.storage.protocol import StorageError
from orchestrator.store.types import DuplicateRecognition
from orchestrator.telemetry.logs import get_logger

log = get_logger()

# A follower is woken by its leader's end; this only bounds a lost wake-up.
WAIT_FOR_LEADER_S = 3600.0


def probe_facts(source: Path, job: Job) -> AudioFacts:
    """The audio facts of the job's file, as its settings declare it."""
    settings = job.settings
    return audio.probe(
        source,
        encoding=settings.encoding,
        sample_rate=settings.sample_rate,
        channels=settings.channels,
    )


def probe_file(source: Path, job: Job) -> tuple[AudioFacts, str]:
    """The audio facts of the job's file (as its settings declare it) and its content hash."""
    facts = probe_facts(source, job)
    return facts, audio.content_hash(source, facts)


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
            problem = source_problem(job.settings, True, self.ctx.settings.apis)
            if problem is not None:
                await self.transitions.fail(job, f"{job.source}: {problem}", began)
                return
            await self._prepare_remote(job, began)
            return
        probed = await self._probe(job, began)
        if probed is None:
            return
        source, facts, content_hash = probed
        if not client.profile.uploads:
            # The audio goes in the recognition request itself: settle who recognises it.
            await self._lead_or_follow(
                job, State.UPLOADED, began, content_hash=content_hash, audio=facts
            )
            return
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
        await self._upload(job, source, facts, content_hash, key, began)

    async def _probe(self, job: Job, began: float) -> tuple[Path, AudioFacts, str] | None:
        """The job's file (by its real path), its audio facts and content hash, probed
        once; None when the job failed for its audio (unreadable, or not what it may be)."""
        source = await asyncio.to_thread(self._readable, job)
        if isinstance(source, str):
            await self.transitions.fail(job, source, began, reason_class=ReasonClass.AUDIO)
            return None
        if job.audio is not None and job.content_hash is not None:
            facts, content_hash = job.audio, job.content_hash
        else:
            try:
                probed = await self._facts(job, source)
            except audio.AudioError as exc:
                await self.transitions.fail(job, str(exc), began, reason_class=ReasonClass.AUDIO)
                return None
            except OSError as exc:
                reason = f"{job.source}: cannot read: {exc.strerror or exc}"
                await self.transitions.fail(job, reason, began, reason_class=ReasonClass.AUDIO)
                return None
            if isinstance(probed, str):
                await self.transitions.fail(job, probed, began, reason_class=ReasonClass.AUDIO)
                return None
            facts, content_hash = probed
        refused = audio_refusal(job, facts, self.ctx.settings.apis)
        if refused is not None:
            await self.transitions.fail(job, refused, began, reason_class=ReasonClass.AUDIO)
            return None
        return source, facts, content_hash

    async def _facts(self, job: Job, source: Path) -> tuple[AudioFacts, str] | str:
        """The audio facts and content hash of what the job uploads: the file, or for a
        part job the part's own bytes of it; or why a part cannot be cut here."""
        if job.part is None:
            return await asyncio.to_thread(probe_file, source, job)
        parent = None if job.parent_id is None else await self.ctx.store.get_job(job.parent_id)
        whole = parent.audio if parent is not None else None
        if whole is None:
            whole = await asyncio.to_thread(probe_facts, source, job)
        facts = part_facts(whole, job.part)
        if facts is None:
            return f"{job.source}: {job.part.label}: only LPCM audio is cut by its bytes"
        # Its own hash, of exactly its bytes: dedup and the result cache work per part.
        return facts, await asyncio.to_thread(audio.content_hash, source, facts)

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
                uploaded = await self.ctx.storage.ensure_uploaded(
                    key,
                    facts.data_length,
                    content_hash,
                    partial(audio.read_range, source, facts.data_offset, facts.data_length),
                )
        except StorageError as exc:
            kind = ErrorKind.RETRYABLE if exc.retryable else ErrorKind.PERMANENT
            failure = Failure(kind, str(exc), reason_class=ReasonClass.STORAGE)
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
        await self.transitions.move(job, State.UPLOADED, began, object_key=key)

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
