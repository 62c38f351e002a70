"""Who said what, as every output names them (pure): an utterance's speaker label when the
API gave one, else the name of its channel when the manifest gave one."""

from __future__ import annotations

from collections.abc import Mapping

from orchestrator.core.transcript import Transcript, Utterance

Names = Mapping[int, str]
"""Channel number (from 1) -> the name the manifest gives it."""


def channels_of(transcript: Transcript) -> tuple[int, ...]:
    """Every channel of the transcript, those with utterances included, in order."""
    found = set(transcript.channels) | {u.channel for u in transcript.utterances}
    return tuple(sorted(found))


def voice_of(utterance: Utterance, names: Names) -> str | None:
    """Who says ``utterance``: its speaker label, else its channel's name, else None."""
    return utterance.speaker or names.get(utterance.channel)
