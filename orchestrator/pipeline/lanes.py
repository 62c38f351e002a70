"""Which jobs each stage claims together, and what their requests spend (pure).

A lane is the jobs of the APIs that share a quota for a stage's request: v2 and v3 share
the submission quota, each has its status-check quota of its own, and fetching a result
costs a request only where the API says so. A synchronous API (asr_xml) has a request
quota of its own, spends no daily audio of the asynchronous ones, and a cap on how many of
its requests wait for an answer at once. The scheduler claims lane by lane, so one API's
quota never holds back another's jobs.

When daemons share a store, a lane also says whose jobs it takes: local audio is uploaded
by a daemon of the node that took its manifest in (only it can read the file), and results
are written by that node too unless they go to object storage; submitting and checking
can be done by any daemon.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from orchestrator.core.apis import ApiSpec
from orchestrator.core.destinations import destinations
from orchestrator.core.jobs import STAGE_STATES, Job, Stage, State
from orchestrator.pipeline.settings import PipelineSettings
from orchestrator.store.types import Affinity, Claim, Spend


@dataclass(frozen=True)
class Lane:
    """Jobs of ``apis`` (None: any API) at one stage, claimed together."""

    stage: Stage
    apis: tuple[str, ...] | None
    spends: tuple[Spend, ...] = ()
    enter: State | None = None
    count: str | None = None
    affinity: Affinity | None = None
    cap: int | None = None  # at most this many of the lane's jobs in ``enter`` at once

    def claim(self, limit: int, lease_s: float, clock: Callable[[], float] | None = None) -> Claim:
        """The store's claim for up to ``limit`` jobs of this lane."""
        return Claim(
            STAGE_STATES[self.stage],
            limit,
            lease_s,
            apis=self.apis,
            spends=self.spends,
            enter=self.enter,
            count=self.count,
            clock=clock if self.spends else None,
            affinity=self.affinity,
            cap=self.cap,
        )


def _by_quota(
    profiles: Sequence[ApiSpec], quota_of: Callable[[ApiSpec], str | None]
) -> dict[str | None, tuple[str, ...]]:
    groups: dict[str | None, list[str]] = {}
    for profile in profiles:
        groups.setdefault(quota_of(profile), []).append(profile.name)
    return {quota: tuple(sorted(names)) for quota, names in sorted(groups.items(), key=str)}


def lanes(
    stage: Stage,
    profiles: Sequence[ApiSpec],
    settings: PipelineSettings,
    billable: Callable[[Job], float],
) -> list[Lane]:
    """The lanes of ``stage`` for the APIs of ``profiles``; ``billable`` is a job's billable
    audio seconds, charged to the daily audio quota when it is submitted."""
    if stage is Stage.UPLOAD:
        # Any API: a job whose API no client drives is refused at this first step.
        return [Lane(stage, None, affinity=Affinity(settings.node))]
    if stage is Stage.SUBMIT:
        return _submit_lanes(profiles, settings, billable)
    if stage is Stage.POLL:
        return [
            Lane(stage, apis, (Spend(quota, settings.quota(quota)),))
            for quota, apis in _by_quota(profiles, lambda p: p.status_quota).items()
            if quota is not None
        ]
    # Results on this node's disk: only the jobs of its own manifests.
    results = destinations(settings.outputs_prefix, settings.outputs_local)
    writes = None if results.any_node else Affinity(settings.node, every_job=True)
    return [
        Lane(
            stage,
            apis,
            () if quota is None else (Spend(quota, settings.quota(quota)),),
            affinity=writes,
        )
        for quota, apis in _by_quota(profiles, lambda p: p.result_quota).items()
    ]


def _submit_lanes(
    profiles: Sequence[ApiSpec], settings: PipelineSettings, billable: Callable[[Job], float]
) -> list[Lane]:
    """A lane per submission quota: its APIs, the quota, the daily audio quota their
    submissions charge, and the sum of their caps (None when one has no cap)."""
    # A submission charges its billable audio to the daily quota its API names.
    audio = {p.name: p.audio_quota for p in profiles if p.audio_quota is not None}
    found = []
    for quota, apis in _by_quota(profiles, lambda p: p.submit_quota).items():
        if quota is None:
            continue
        spends: tuple[Spend, ...] = (Spend(quota, settings.quota(quota)),)
        for daily in dict.fromkeys(audio[api] for api in apis if api in audio):
            spends = (*spends, Spend(daily, settings.quota(daily), amount=billable))
        caps = [settings.api_concurrency.get(api) for api in apis]
        # Granted, spent and moved to `submitting` in one transaction, right before
        # the requests go out: the ledger's times are the requests' times.
        found.append(
            Lane(
                Stage.SUBMIT,
                apis,
                spends,
                enter=State.SUBMITTING,
                count="submissions",
                cap=None if None in caps else sum(c for c in caps if c is not None),
            )
        )
    return found


def without_bucket(
    stage: Stage, found: Sequence[Lane], profiles: Sequence[ApiSpec], settings: PipelineSettings
) -> list[Lane]:
    """The lanes of ``found`` that may go on while the bucket cannot be used. Uploads and
    submissions wait for the APIs that upload (the service reads the audio from the
    bucket by its link); those of an API that sends the audio in its request go on.
    Fetches wait when results are written to objects; checks always go on."""
    if stage is Stage.POLL:
        return list(found)
    if stage is Stage.FETCH:
        in_bucket = destinations(settings.outputs_prefix, settings.outputs_local).objects_prefix
        return [] if in_bucket is not None else list(found)
    free = {profile.name for profile in profiles if not profile.uploads}
    kept = []
    for lane in found:
        apis = tuple(sorted(free)) if lane.apis is None else lane.apis
        apis = tuple(api for api in apis if api in free)
        if apis:
            kept.append(replace(lane, apis=apis))
    return kept
