"""Fetching and writing: the transcript (from the result cache, or a request of its own
where the API has one) becomes the job's output files, written once. A transcript with
nothing in it is no failure: the job is done, with a note for its report. Where the API
keeps results that can be deleted, they are, once the outputs are on disk (if asked)."""

from __future__ import annotations

import asyncio
import dataclasses
from functools import partial
from typing import Any

from orchestrator.core.apis import SPEAKER_LABELING_MAX_CHANNELS
from orchestrator.core.audio import AudioFacts
from orchestrator.core.decisions import Failure, after_failure, note_when_done
from orchestrator.core.destinations import destinations
from orchestrator.core.failures import ErrorKind
from orchestrator.core.jobs import Job, Stage, State
from orchestrator.core.parts import Part, stitch
from orchestrator.core.refs import ObjectRef
from orchestrator.core.transcript import Transcript
from orchestrator.outputs import write as outputs
from orchestrator.outputs.files import write_error
from orchestrator.outputs.render import render_all
from orchestrator.pipeline.context import Context
from orchestrator.pipeline.requests import converted_file
from orchestrator.pipeline.transitions import Transitions
from orchestrator.speechkit.base import RecognitionClient
from orchestrator.speechkit.errors import SpeechKitError
from orchestrator.storage.protocol import StorageError
from orchestrator.telemetry.logs import get_logger

log = get_logger()


def with_every_channel(transcript: Transcript, facts: AudioFacts | None) -> Transcript:
    """The transcript with a channel for each of the audio's: when nothing was recognised,
    each channel of the audio is still there, empty."""
    if transcript.channels:
        return transcript
    channels = tuple(range(1, facts.channels + 1)) if facts else (1,)
    return dataclasses.replace(transcript, channels=channels)


def job_record(job: Job, operation_id: str, parts: int = 0) -> dict[str, Any]:
    """What the job's JSON output says of the job itself (of a job that was split, how
    many parts it was recognised in)."""
    facts = job.audio
    record: dict[str, Any] = {
        "manifest": job.manifest_name,
        "job_id": job.id,
        "source": job.source,
        "operation_id": operation_id,
        "content_sha256": job.content_hash,
        "settings": job.settings.to_dict(),
        "audio": (
            {
                "encoding": facts.encoding,
                "duration_s": facts.duration_s,
                "channels": facts.channels,
                "sample_rate": facts.sample_rate,
            }
            if facts
            else None
        ),
    }
    if parts:
        record["parts"] = parts
    return record


class Fetch:
    """The last step: outputs on disk, the uploaded object deleted when no job needs it."""

    def __init__(self, ctx: Context, transitions: Transitions) -> None:
        self.ctx = ctx
        self.transitions = transitions

    async def step(self, job: Job, _entered: bool) -> None:
        """Write one finished job's outputs."""
        began = self.ctx.clock()
        client = self.ctx.client(job)
        if client is None:
            await self.transitions.fail(job, f"api {job.settings.api!r} is not handled", began)
            return
        # A job that was split is written from its parts' transcripts, stitched.
        parts = [] if job.part is not None else await self.ctx.store.parts_of(job.id)
        cached = (
            await self.ctx.results.get(job.content_hash, job.settings_key, client)
            if job.content_hash
            else None
        )
        operation_id = cached[0] if cached else (job.operation_id or "")
        transcript = cached[1] if cached else None
        if transcript is None and parts:
            transcript = await self._stitched(job, client, parts, began)
        elif transcript is None:
            transcript = await self._request(job, client, operation_id, began)
        if transcript is not None:
            await self._write(job, client, transcript, operation_id, began, len(parts))

    async def _stitched(
        self, job: Job, client: RecognitionClient, parts: list[Job], began: float
    ) -> Transcript | None:
        """The parts' transcripts (from the result cache) stitched into the job's, kept in
        the cache under the job's own audio (its followers read it there); None when a
        part's transcript is no longer kept (the job failed)."""
        pairs: list[tuple[Part, Transcript]] = []
        for part_job in parts:
            part, key = part_job.part, part_job.content_hash
            cached = await self.ctx.results.get(key, part_job.settings_key, client) if key else None
            if part is None or cached is None or cached[1] is None:
                label = part.label if part else f"part job {part_job.id}"
                reason = f"{job.source}: {label}: its transcript is no longer kept"
                await self.transitions.fail(job, reason, began)
                return None
            pairs.append((part, cached[1]))
        transcript = stitch(pairs)
        if job.content_hash is not None:
            await self.ctx.results.put(
                job.content_hash, job.settings_key, "", transcript, self.ctx.clock()
            )
        return transcript

    async def _request(
        self, job: Job, client: RecognitionClient, operation_id: str, began: float
    ) -> Transcript | None:
        """The result, asked of the service (the claim spent its quota); None when the step
        ends otherwise."""
        profile = client.profile
        if profile.result_quota is None:
            # The finished status carries the result and none was kept: check it again.
            await self.transitions.move(job, State.RUNNING, began)
            return None
        # The API labels speakers only in one channel (core.apis): then tags are speakers.
        mono = job.audio is None or job.audio.channels <= SPEAKER_LABELING_MAX_CHANNELS
        try:
            transcript = await client.fetch_result(
                operation_id, speaker_labeling=job.settings.speaker_labeling and mono
            )
            self.ctx.metrics.record_request(profile.result_endpoint or "result", 200)
        except SpeechKitError as exc:
            self.ctx.metrics.record_request(
                profile.result_endpoint or "result", exc.http_status or "error"
            )
            decision = after_failure(
                Stage.FETCH,
                exc.failure(),
                job,
                self.ctx.circumstances(),
                quota=profile.result_quota,
                not_found=profile.result_not_found,
            )
            await self.transitions.apply(job, decision, began, ids=exc.ids())
            return None
        if job.content_hash is not None:
            await self.ctx.results.put(
                job.content_hash, job.settings_key, operation_id, transcript, self.ctx.clock()
            )
        return transcript

    async def _write(
        self,
        job: Job,
        client: RecognitionClient,
        transcript: Transcript,
        operation_id: str,
        began: float,
        parts: int = 0,
    ) -> None:
        """Write the outputs (a part job has none: its transcript waits in the result
        cache for the whole job's); then clean up, and the job is done. A failure to write
        is retried (a full or read-only disk, storage that failed)."""
        transcript = with_every_channel(transcript, job.audio)
        try:
            written = (
                []
                if job.part is not None
                else await self._write_outputs(job, client, transcript, operation_id, parts)
            )
        except OSError as exc:
            # A full or read-only disk: the job waits and tries again (and, once its
            # attempts are spent, stays retryable); nothing half-written is left behind.
            await self._retry(job, write_error(exc), began)
            return
        except StorageError as exc:
            if exc.bucket_wide:
                # The bucket, not this job: it waits, and so do fetches, for a check.
                self.ctx.bucket.close(exc)
            kind = ErrorKind.BUCKET if exc.bucket_wide else ErrorKind.RETRYABLE
            await self._retry(job, str(exc), began, kind)
            return
        except ValueError as exc:
            await self._retry(job, str(exc), began)
            return
        await self._delete_object(job)
        await self._delete_converted(job, client)
        if operation_id and operation_id == job.operation_id:
            await self._delete_results(job, client, operation_id)
        if written:
            log.info("job.written", operation_id=operation_id, files=written)
        elif job.part is not None:
            log.info("part.done", operation_id=operation_id, part=job.part.label)
        else:
            # Written before a restart cut the step short: not written again.
            log.info("job.already_written", operation_id=operation_id)
        # A part's silence is no remark on the job: the stitched whole is judged.
        note = None if job.part is not None else note_when_done(transcript.empty)
        if note is not None:
            log.warning("job.empty", operation_id=operation_id, source=job.source, reason=note)
        await self.transitions.move(job, State.DONE, began, error=None, note=note)

    async def _retry(
        self, job: Job, error: str, began: float, kind: ErrorKind = ErrorKind.RETRYABLE
    ) -> None:
        failure = Failure(kind, f"writing the results failed: {error}")
        decision = after_failure(Stage.FETCH, failure, job, self.ctx.circumstances())
        await self.transitions.apply(job, decision, began)

    async def _write_outputs(
        self,
        job: Job,
        client: RecognitionClient,
        transcript: Transcript,
        operation_id: str,
        parts: int,
    ) -> list[str]:
        """The job's outputs where the results go: files, then objects (a set in storage
        is one the disk holds whole already); the paths and links of those written."""
        settings = self.ctx.settings
        results = destinations(settings.outputs_prefix, settings.outputs_local)
        record = job_record(job, operation_id, parts)
        timings, channels = client.profile.timings, transcript.channels
        written: list[str] = []
        if results.disk:
            files = await asyncio.to_thread(
                partial(outputs.write_job_outputs, timings=timings, options=job.output_options),
                settings.output_root,
                job.manifest_name,
                job.output,
                transcript,
                channels,
                record,
            )
            written.extend(str(path) for path in files)
        if results.objects_prefix is not None:
            written.extend(
                await self._write_objects(
                    results.objects_prefix, job, transcript, channels, record, timings
                )
            )
        return written

    async def _delete_results(self, job: Job, client: RecognitionClient, operation_id: str) -> None:
        """Have the service forget the results it keeps (the outputs are on disk); a
        failure only costs the results lingering until they expire."""
        endpoint = client.profile.delete_endpoint
        if endpoint is None or not self.ctx.settings.delete_results_after_done:
            return
        try:
            await client.delete_result(operation_id)
            self.ctx.metrics.record_request(endpoint, 200)
        except SpeechKitError as exc:
            self.ctx.metrics.record_request(endpoint, exc.http_status or "error")
            log.warning(
                "results.delete_failed",
                operation_id=operation_id,
                error=str(exc),
                **exc.ids(),
            )
            return
        log.info("results.deleted", operation_id=operation_id)

    async def _write_objects(
        self,
        prefix: str,
        job: Job,
        transcript: Transcript,
        channels: tuple[int, ...],
        record: dict[str, Any],
        timings: bool,
    ) -> list[str]:
        """The outputs as objects under ``prefix``, the seal last (the JSON when chosen:
        its object says the job's set is whole); the ``s3://`` links of those written
        (none when all were there already)."""
        options = job.output_options
        keys = outputs.object_keys(
            prefix, job.manifest_name, job.output, channels, timings=timings, options=options
        )
        rendered = render_all(
            transcript, job=record, channels=channels, timings=timings, options=options
        )
        storage, written = self.ctx.storage, []
        for name in outputs.write_order(keys):
            if await storage.put_text(keys[name], rendered[name]):
                written.append(str(ObjectRef(storage.bucket, keys[name])))
        return written

    async def _delete_converted(self, job: Job, client: RecognitionClient) -> None:
        """The converted file an API that takes the audio in its request was sent (kept
        until now: a result lost on the way is asked for again with it)."""
        facts = job.audio
        if client.profile.uploads or facts is None or not facts.converted:
            return
        path = converted_file(
            self.ctx.settings.conversions_dir, job.content_hash or "", facts.encoding
        )
        await asyncio.to_thread(path.unlink, missing_ok=True)

    async def _delete_object(self, job: Job) -> None:
        """Delete the object we uploaded for this job once no other job needs it."""
        key = job.object_key
        if not (self.ctx.settings.delete_after_done and key and job.is_local):
            return
        if await self.ctx.store.object_in_use(key, job.id):
            return
        try:
            await self.ctx.storage.delete(key)
        except StorageError as exc:
            log.warning("object.delete_failed", object_key=key, error=str(exc))
