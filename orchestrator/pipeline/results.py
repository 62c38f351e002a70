"""The result cache, as the stages use it: transcripts kept in the store by (content,
settings), so that the same audio is recognised once and a restart loses no result.

The transcripts this process put there lately are also kept in memory: the fetch that
follows a poll or a synchronous recognition finds its transcript there, instead of reading
back and parsing what was stored a moment before (a long call's transcript is thousands of
words). The store remains the record; memory is only a shortcut to the same value.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from orchestrator.core.transcript import Transcript
from orchestrator.speechkit.base import RecognitionClient
from orchestrator.store.protocol import Store

# Transcripts kept in memory between a poll and its fetch (which takes it out): a few MiB
# each at most, and the fetch comes within moments, so a handful is plenty.
RECENT = 8

CacheKey = tuple[str, str]  # (content hash, settings key)


class Results:
    """The result cache of one pipeline: the store's, with a small memory in front."""

    def __init__(self, store: Store, recent: int = RECENT) -> None:
        self.store = store
        self._recent: OrderedDict[CacheKey, tuple[str, Transcript]] = OrderedDict()
        self._size = recent

    async def put(
        self,
        content_hash: str,
        settings_key: str,
        operation_id: str,
        transcript: Transcript,
        now: float,
    ) -> None:
        """Keep a transcript in the store (and in memory, for the fetch to come)."""
        payload = {"transcript": transcript.to_dict()}
        await self.store.put_result(content_hash, settings_key, operation_id, payload, now)
        key = (content_hash, settings_key)
        self._recent[key] = (operation_id, transcript)
        self._recent.move_to_end(key)
        while len(self._recent) > self._size:
            self._recent.popitem(last=False)

    async def get(
        self, content_hash: str, settings_key: str, client: RecognitionClient
    ) -> tuple[str, Transcript | None] | None:
        """The operation id and transcript of a cached result; the transcript is None when
        the stored form is one nobody reads any more. None when nothing is cached. Taken
        out of memory: a second reader (a job with the same audio) reads the store."""
        recent = self._recent.pop((content_hash, settings_key), None)
        if recent is not None:
            return recent
        cached = await self.store.get_result(content_hash, settings_key)
        if cached is None:
            return None
        operation_id, payload = cached
        return operation_id, cached_transcript(client, payload)


def cached_transcript(client: RecognitionClient, payload: Any) -> Transcript | None:
    """A cached result as a transcript: the normalised form, or an older one the client
    reads back; None when it is neither."""
    if isinstance(payload, dict) and "transcript" in payload:
        try:
            return Transcript.from_dict(payload["transcript"])
        except (KeyError, TypeError, ValueError):
            return None
    return client.from_cache(payload)
