"""Every store (SQLite and PostgreSQL) behaves the same: manifests, claims and leases,
compare-and-set updates, the quota ledger, results and followers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator

import pytest

from orchestrator.core.audio import AudioFacts
from orchestrator.core.jobs import Job, State
from orchestrator.core.output_options import OutputOptions
from orchestrator.core.quota import Pause, QuotaSpec
from orchestrator.core.settings import RecognitionSettings
from orchestrator.store import (
    Claim,
    JobUpdate,
    ManifestConflict,
    NewJob,
    Spend,
    Store,
    StoreError,
)
from tests.integration.conftest import Opener

ME = "node1:100:run1"  # a lease owner: node, process, run


async def take(store: Store, state: State, now: float, limit: int, owner: str = ME) -> list[Job]:
    """Claim due jobs in ``state`` with a one-minute lease, spending nothing."""
    return (await store.claim(Claim((state,), limit, 60.0), owner, now)).jobs


def new_jobs(count: int, prefix: str = "a") -> list[NewJob]:
    return [
        NewJob(
            source=f"/audio/{prefix}{i}.ogg",
            output=f"{prefix}{i}",
            settings=RecognitionSettings(language="ru-RU", model="general", priority=i % 2),
        )
        for i in range(count)
    ]


async def test_manifest_once_and_one_active_name(store: Store) -> None:
    first, new = await store.add_manifest("calls", "/in/a.yaml", "d1", new_jobs(3), 100.0)
    assert new
    again, new = await store.add_manifest("calls", "/in/a.yaml", "d1", new_jobs(3), 101.0)
    assert (again, new) == (first, False)
    with pytest.raises(ManifestConflict, match="calls"):
        await store.add_manifest("calls", "/in/b.yaml", "d2", new_jobs(1, "b"), 102.0)
    (status,) = await store.manifests()
    assert status.counts == {"queued": 3}
    assert status.total == 3


async def test_claim_leases_and_orders_by_priority_then_due(store: Store) -> None:
    await store.add_manifest("m", "/m.yaml", "d", new_jobs(4), 10.0)
    claimed = await take(store, State.QUEUED, 20.0, 2)
    assert [job.priority for job in claimed] == [1, 1]
    # Leased jobs are not claimed again until the lease runs out.
    rest = await take(store, State.QUEUED, 21.0, 10)
    assert {job.id for job in rest}.isdisjoint({job.id for job in claimed})
    assert len(rest) == 2
    assert await take(store, State.QUEUED, 22.0, 10) == []
    assert len(await take(store, State.QUEUED, 100.0, 10)) == 4
    # A restart on the same node takes back its earlier run's leases at once.
    assert await store.recover("node1", 100.0) == 4
    assert len(await take(store, State.QUEUED, 100.0, 10)) == 4


async def test_leases_are_renewed_by_their_owner_and_recovered_only_when_dead(
    store: Store,
) -> None:
    await store.add_manifest("m", "/m.yaml", "d", new_jobs(3), 10.0)
    mine = await take(store, State.QUEUED, 20.0, 2)
    (theirs,) = await take(store, State.QUEUED, 20.0, 1, owner="node2:7:x")
    # The heartbeat extends only the owner's own leases.
    assert await store.renew_leases(ME, [j.id for j in mine] + [theirs.id], 200.0) == 2
    assert await take(store, State.QUEUED, 75.0, 10) == []
    # A dead owner's job is claimable once its lease has run out; a live one's is not.
    (freed,) = await take(store, State.QUEUED, 150.0, 10)
    assert freed.id == theirs.id
    # Recovery releases no lease that may still be alive on another node, and every lease
    # of the node that restarts.
    assert await store.recover("node3", 150.0) == 0
    assert await store.recover("node1", 150.0) == 3
    assert len(await take(store, State.QUEUED, 150.0, 10)) == 3


async def test_claim_records_quota_spend_in_the_same_transaction(store: Store) -> None:
    await store.add_manifest("m", "/m.yaml", "d", new_jobs(3), 10.0)
    spend = Spend("submit", QuotaSpec(limit=100, window_s=60.0))
    claimed = await store.claim(Claim((State.QUEUED,), 5, 60.0, spends=(spend,)), "me", 20.0)
    assert len(claimed.jobs) == 3
    assert claimed.usage == {"submit": (3.0, 97.0)}
    assert await store.quota_spent("submit", 0.0) == [20.0, 20.0, 20.0]
    assert await store.quota_spent("status", 0.0) == []
    audio = Spend("audio", QuotaSpec(limit=1000, window_s=60.0), amount=lambda _job: 30.0)
    ask = Claim((State.QUEUED,), 5, 60.0, spends=(audio,), enter=State.UPLOADING)
    assert len((await store.claim(ask, "me", 90.0)).jobs) == 3
    assert await store.quota_amounts("audio", 0.0) == [(90.0, 30.0)] * 3
    await store.prune_quota("submit", 20.0)
    assert await store.quota_spent("submit", 0.0) == []
    assert await store.quota_amounts("audio", 0.0) == [(90.0, 30.0)] * 3


async def test_claim_grants_within_the_window_across_a_restart(open_store: Opener) -> None:
    store = await open_store()
    await store.add_manifest("m", "/m.yaml", "d", new_jobs(8), 10.0)
    spend = Spend("submit", QuotaSpec(limit=3, window_s=60.0))

    def ask(limit: int) -> Claim:
        return Claim((State.QUEUED,), limit, 1.0, spends=(spend,))

    first = await store.claim(ask(2), "me", 1000.0)
    assert (len(first.jobs), first.wake_at) == (2, None)
    await store.close()
    # The same store opened again (a restarted daemon) sees what the old one spent.
    store = await open_store()
    again = await store.claim(ask(5), "me", 1010.0)
    assert len(again.jobs) == 1
    assert again.usage == {"submit": (3.0, 0.0)}
    # Full: nothing until the first two leave the window, and the claim says when.
    full = await store.claim(ask(5), "me", 1020.0)
    assert (full.jobs, full.wake_at) == ([], 1060.0)
    assert len((await store.claim(ask(5), "me", 1060.0)).jobs) == 2
    await store.close()


async def test_a_pause_holds_every_claim_until_it_ends(store: Store) -> None:
    await store.add_manifest("m", "/m.yaml", "d", new_jobs(4), 10.0)
    spend = Spend("status", QuotaSpec(limit=100, window_s=60.0))
    await store.pause_quota("status", lambda _current: Pause(1007.0))
    ask = Claim((State.QUEUED,), 4, 1.0, spends=(spend,))
    held = await store.claim(ask, "me", 1000.0)
    assert (held.jobs, held.wake_at) == ([], 1007.0)
    assert len((await store.claim(ask, "me", 1007.0)).jobs) == 4


async def test_amounts_are_charged_until_the_day_is_full(store: Store) -> None:
    jobs = [NewJob(f"/a/{i}.ogg", f"o{i}", RecognitionSettings()) for i in range(4)]
    await store.add_manifest("m", "/m.yaml", "d", jobs, 10.0)
    seconds = {"o0": 60.0, "o1": 40.0, "o2": 1.0, "o3": 101.0}
    spend = Spend(
        "audio", QuotaSpec(limit=100, window_s=86400.0), amount=lambda j: seconds[j.output]
    )
    ask = Claim((State.QUEUED,), 4, 1.0, spends=(spend,), enter=State.UPLOADING)
    claimed = await store.claim(ask, "me", 1000.0)
    # 60 + 40 fill the day; the third waits for the first to leave the window.
    assert [j.output for j in claimed.jobs] == ["o0", "o1"]
    assert claimed.wake_at == 1000.0 + 86400.0
    assert await store.quota_amounts("audio", 0.0) == [(1000.0, 60.0), (1000.0, 40.0)]
    later = await store.claim(ask, "me", 1000.0 + 86400.0)
    # An amount larger than the whole day never fits: it goes through uncharged, for its
    # stage to refuse, and does not hold up the others.
    assert [j.output for j in later.jobs] == ["o2", "o3"]
    assert [a for _, a in await store.quota_amounts("audio", 1000.0)] == [1.0]


async def test_claim_enters_a_state_and_counts_it_once(store: Store) -> None:
    await store.add_manifest("m", "/m.yaml", "d", new_jobs(2), 10.0)
    ask = Claim((State.QUEUED, State.UPLOADING), 5, 1.0, enter=State.UPLOADING, count="submissions")
    claimed = await store.claim(ask, "me", 20.0)
    assert {j.state for j in claimed.jobs} == {State.UPLOADING}
    assert claimed.entered == {j.id for j in claimed.jobs}
    assert [j.submissions for j in claimed.jobs] == [1, 1]
    # Claimed again after the lease ran out: already in the state, so not counted again.
    again = await store.claim(ask, "me", 30.0)
    assert again.entered == frozenset()
    assert [j.submissions for j in again.jobs] == [1, 1]
    stored = await store.get_job(claimed.jobs[0].id)
    assert stored is not None
    assert (stored.state, stored.submissions) == (State.UPLOADING, 1)


async def test_update_is_compare_and_set(store: Store) -> None:
    await store.add_manifest("m", "/m.yaml", "d", new_jobs(1), 10.0)
    (job,) = await take(store, State.QUEUED, 20.0, 1)
    facts = AudioFacts("OGG_OPUS", 12.5, 2, 48000, 0, 1000, "ogg_opus")
    assert await store.update_job(
        job.id, State.QUEUED, {"state": State.UPLOADING, "audio": facts}, 21.0, keep_lease=True
    )
    # The lease is kept: no other stage takes the job mid-step.
    assert await take(store, State.UPLOADING, 22.0, 1) == []
    # An update expecting the old state no longer applies.
    assert not await store.update_job(job.id, State.QUEUED, {"state": State.FAILED}, 22.0)
    got = await store.get_job(job.id)
    assert got is not None
    assert got.state is State.UPLOADING
    assert got.audio == facts
    assert got.audio.audio_seconds_all_channels == 25.0
    with pytest.raises(ValueError, match="not job fields"):
        await store.update_job(job.id, None, {"lease_owner": "x"}, 23.0)  # type: ignore[typeddict-unknown-key]


async def test_cancel_then_retry(store: Store) -> None:
    await store.add_manifest("m", "/m.yaml", "d", new_jobs(2), 10.0)
    assert await store.cancel_manifest("m", 11.0) == 2
    assert await store.counts_by_state() == {"cancelled": 2}
    assert await store.manifests_to_finish() == [1]
    assert await store.retry_manifest("m", 12.0) == 2
    assert await store.counts_by_state() == {"queued": 2}
    with pytest.raises(StoreError, match="no manifest named 'x'"):
        await store.retry_manifest("x", 13.0)


async def test_a_run_of_a_manifest_is_named_name_hash_run(store: Store) -> None:
    # A folder manifest submitted again: two runs of one name; NAME alone is the newest.
    first, _ = await store.add_manifest("day1", "/day1.yaml", "d1", new_jobs(2), 10.0)
    assert await store.cancel_manifest("day1", 11.0) == 2
    await store.finish_manifest(first, "/r.json", "/day1.yaml", 12.0)
    second, _ = await store.add_manifest(
        "day1", "/day1.1.yaml", "d1", new_jobs(1, "b"), 13.0, rerun=True
    )
    assert await store.cancel_manifest("day1", 14.0) == 1  # the newest run's one job
    with pytest.raises(StoreError, match="another run of 'day1' is active"):
        await store.retry_manifest("day1#1", 14.2)  # one run of a name is active at a time
    await store.finish_manifest(second, "/r.json", "/day1.1.yaml", 14.5)
    assert await store.retry_manifest("day1#1", 15.0) == 2  # the first run's two
    assert await store.counts_by_state() == {"queued": 2, "cancelled": 1}
    with pytest.raises(StoreError, match="manifest 'day1' has 2 run"):
        await store.retry_manifest("day1#3", 16.0)
    with pytest.raises(StoreError, match="no manifest named 'x#1'"):
        await store.retry_manifest("x#1", 16.0)


async def test_recent_failures_are_the_newest_failed_jobs_first(store: Store) -> None:
    await store.add_manifest("calls", "/m.yaml", "d", new_jobs(6), 10.0)
    jobs = sorted(await store.jobs_in([State.QUEUED]), key=lambda job: job.id)
    assert await store.recent_failures(5) == []
    # Failed at 30, 50, 50 (a tie: the later id first) and 40; one cancelled, one done.
    for job, at in zip(jobs[:4], (30.0, 50.0, 50.0, 40.0), strict=True):
        fields: JobUpdate = {
            "state": State.FAILED,
            "error": f"bad audio {job.id}",
            "finished_at": at,
        }
        assert await store.update_job(job.id, None, fields, at)
    await store.update_job(jobs[4].id, None, {"state": State.CANCELLED, "finished_at": 60.0}, 60.0)
    await store.update_job(jobs[5].id, None, {"state": State.DONE, "finished_at": 70.0}, 70.0)

    newest = await store.recent_failures(3)
    assert [job.id for job in newest] == [jobs[2].id, jobs[1].id, jobs[3].id]
    assert newest[0].manifest_name == "calls"
    assert newest[0].error == f"bad audio {jobs[2].id}"
    assert newest[0].finished_at == 50.0
    assert [job.id for job in await store.recent_failures(10)] == [
        jobs[2].id,
        jobs[1].id,
        jobs[3].id,
        jobs[0].id,
    ]
    # A retried job is no longer a failure.
    await store.retry_manifest("calls", 80.0)
    assert await store.recent_failures(10) == []


async def test_results_and_followers(store: Store) -> None:
    await store.add_manifest("m", "/m.yaml", "d", new_jobs(2), 10.0)
    leader, follower = await take(store, State.QUEUED, 20.0, 2)
    await store.update_job(leader.id, None, {"state": State.RUNNING, "content_hash": "h"}, 21.0)
    found = await store.find_leader(follower, "h")
    assert found is not None
    assert found.id == leader.id
    await store.update_job(
        follower.id,
        None,
        {"state": State.WAITING, "leader_id": leader.id, "content_hash": "h"},
        21.0,
    )
    assert await store.release_followers(leader.id, State.FETCHING, 22.0) == 1
    assert await store.get_result("h", follower.settings_key) is None
    await store.put_result("h", follower.settings_key, "op1", {"chunks": []}, 23.0)
    assert await store.get_result("h", follower.settings_key) == ("op1", {"chunks": []})


async def test_quota_pause_never_shortens_and_counts_in_one_transaction(store: Store) -> None:
    seen: list[Pause | None] = []

    def change(until: float) -> Callable[[Pause | None], Pause]:
        def apply(current: Pause | None) -> Pause:
            seen.append(current)
            return Pause(until, 1 if current is None else current.strikes + 1)

        return apply

    assert await store.pause_quota("status", change(50.0)) == Pause(50.0, 1)
    assert await store.pause_quota("status", change(40.0)) == Pause(40.0, 2)
    assert seen == [None, Pause(50.0, 1)]
    assert await store.quota_paused_until("status") == 50.0
    assert await store.quota_paused_until("submit") is None
    assert await store.writable()


async def test_a_cap_holds_a_claim_to_so_many_jobs_in_its_state(store: Store) -> None:
    await store.add_manifest("m", "/m.yaml", "d", new_jobs(5), 10.0)
    ask = Claim((State.QUEUED,), 5, 60.0, enter=State.UPLOADING, cap=2)
    first = await store.claim(ask, "me", 20.0)
    assert len(first.jobs) == 2
    assert first.held == {"cap:any": 80.0}  # three more were due: the cap held them
    # Both are in `uploading`: no room, and the claim says until when it holds.
    full = await store.claim(ask, "me", 21.0)
    assert (full.jobs, full.held) == ([], {"cap:any": 81.0})
    await store.update_job(first.jobs[0].id, State.UPLOADING, {"state": State.UPLOADED}, 22.0)
    assert len((await store.claim(ask, "me", 23.0)).jobs) == 1
    # Fewer due than the room: nothing held back.
    few = Claim((State.QUEUED,), 5, 60.0, enter=State.UPLOADING, cap=10)
    assert (await store.claim(few, "me", 24.0)).held == {}


async def test_a_note_is_kept_with_the_job_and_cleared_by_a_retry(store: Store) -> None:
    await store.add_manifest("m", "/m.yaml", "d", new_jobs(1), 10.0)
    (job,) = await store.jobs_in([State.QUEUED])
    assert job.note is None
    await store.update_job(job.id, None, {"note": "no speech recognised"}, 11.0)
    noted = await store.get_job(job.id)
    assert noted is not None
    assert noted.note == "no speech recognised"
    await store.update_job(job.id, None, {"state": State.CANCELLED}, 12.0)
    assert await store.retry_manifest("m", 13.0) == 1
    retried = await store.get_job(job.id)
    assert retried is not None
    assert retried.note is None


async def test_a_cancelled_write_leaves_no_transaction_open(store: Store) -> None:
    await store.add_manifest("m", "/m.yaml", "d", new_jobs(1), 10.0)
    # Cancel at every point of a write in turn (before BEGIN, after it, around COMMIT).
    for yields in range(12):
        task = asyncio.create_task(store.kv_set("k", str(yields)))
        for _ in range(yields):
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        # The next write goes through: the connection is not stuck in a transaction.
        await store.kv_set("after", str(yields))
        assert await store.kv_get("after") == str(yields)


async def test_when_more_is_due_than_allowed_the_earliest_due_go_first(
    store: Store,
) -> None:
    jobs = [NewJob(f"/a/p{i}.ogg", f"p{i}", RecognitionSettings()) for i in range(5)]
    await store.add_manifest("m", "/m.yaml", "d", jobs, 10.0)
    due = {"p0": 50.0, "p1": 10.0, "p2": 200.0, "p3": 30.0, "p4": 10.0}
    for job in await take(store, State.QUEUED, 11.0, 10):
        await store.update_job(job.id, None, {"next_action_at": due[job.output]}, 11.0)
    first = await take(store, State.QUEUED, 100.0, 2)
    assert [job.output for job in first] == ["p1", "p4"]  # ties in the order they came
    rest = await take(store, State.QUEUED, 100.0, 10)
    assert [job.output for job in rest] == ["p3", "p0"]  # p2 is not due yet
    assert await take(store, State.QUEUED, 100.0, 0) == []


async def test_a_leased_job_comes_due_when_its_lease_runs_out(store: Store) -> None:
    await store.add_manifest("m", "/m.yaml", "d", new_jobs(2), 10.0)
    (first, second) = await take(store, State.QUEUED, 20.0, 2)
    await store.update_job(second.id, None, {"next_action_at": 500.0}, 20.0, keep_lease=True)
    # Both leased until 80: the stage wakes then for the first, later for the second.
    assert await store.next_due([State.QUEUED], 21.0) == 80.0
    assert await store.next_due([State.QUEUED], 21.0, ["v3"]) is None
    await store.update_job(first.id, None, {"next_action_at": 30.0}, 21.0)  # lease dropped
    assert await store.next_due([State.QUEUED], 22.0) == 30.0


async def test_output_options_are_kept_with_each_job_and_ask_nothing_more(store: Store) -> None:
    named = OutputOptions(("txt", "conversation"), ("agent", "customer"))
    settings = RecognitionSettings()
    jobs = [
        NewJob("/a/x.ogg", "named", settings, named),
        NewJob("/a/x.ogg", "plain", settings),
    ]
    await store.add_manifest("m", "/m.yaml", "d", jobs, 10.0)
    first, second = sorted(await store.manifest_jobs(1), key=lambda job: job.id)
    assert (first.output_options, second.output_options) == (named, OutputOptions())
    # The same recognition for both: the names are not in what the service is asked.
    assert first.settings_key == second.settings_key


async def test_whether_any_job_is_in_some_states(store: Store) -> None:
    assert not await store.any_in([State.QUEUED, State.RUNNING])
    await store.add_manifest("m", "/m.yaml", "d", new_jobs(2), 10.0)
    assert await store.any_in([State.QUEUED, State.RUNNING])
    assert not await store.any_in([State.RUNNING])


async def test_a_manifest_streams_in_and_an_error_midway_takes_nothing(store: Store) -> None:
    def failing() -> Iterator[NewJob]:
        yield from new_jobs(3)
        raise ValueError("the manifest turned out invalid half-way")

    with pytest.raises(ValueError, match="half-way"):
        await store.add_manifest("m", "/m.yaml", "d", failing(), 10.0)
    assert await store.manifests() == []
    assert await store.counts_by_state() == {}
    # A long stream goes in whole, in batches.
    many = (NewJob(f"/a/{i}.ogg", f"o{i}", RecognitionSettings()) for i in range(5000))
    await store.add_manifest("big", "/b.yaml", "d2", many, 11.0)
    assert await store.counts_by_state() == {"queued": 5000}


async def test_quotas_are_spent_at_the_claims_own_time_and_only_for_what_all_let_through(
    store: Store,
) -> None:
    jobs = [NewJob(f"/a/{i}.ogg", f"o{i}", RecognitionSettings()) for i in range(3)]
    await store.add_manifest("m", "/m.yaml", "d", jobs, 10.0)
    submit = Spend("submit", QuotaSpec(limit=100, window_s=60.0))
    audio = Spend("audio", QuotaSpec(limit=100, window_s=86400.0), amount=lambda _job: 60.0)
    # The clock is read once the claim holds its locks: the ledger gets that time.
    ask = Claim(
        (State.QUEUED,), 3, 60.0, spends=(submit, audio), enter=State.UPLOADING, clock=lambda: 25.0
    )
    claimed = await store.claim(ask, "me", 20.0)
    # The daily audio lets one job through: the submission quota is charged for that one.
    assert len(claimed.jobs) == 1
    assert await store.quota_spent("submit", 0.0) == [25.0]
    assert await store.quota_amounts("audio", 0.0) == [(25.0, 60.0)]
    assert set(claimed.held) == {"audio"}
