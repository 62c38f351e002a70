"""Completion hooks in every store (SQLite and PostgreSQL): a manifest keeps its own, its
finish adds one pending delivery per hook in the same transaction, and a delivery stays
pending until an attempt's outcome is recorded, across a restart."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orchestrator.core.hooks import Hook, OnFinish
from orchestrator.core.settings import RecognitionSettings
from orchestrator.store import NewJob, Store
from orchestrator.telemetry.logs import REDACTED, _known_secrets, register_secret
from tests.integration.conftest import Opener

ON_FINISH = OnFinish(command=("/usr/local/bin/notify", "--x"), webhook="https://ci.example/h")
CONFIG_HOOK = Hook("webhook", "config", url="https://hooks.example/all?token=t")


def one_job() -> list[NewJob]:
    return [NewJob("/audio/a.ogg", "a", RecognitionSettings())]


async def test_a_manifest_keeps_its_own_hooks(store: Store) -> None:
    mine, _ = await store.add_manifest("m", "/m.yaml", "d1", one_job(), 1.0, on_finish=ON_FINISH)
    plain, _ = await store.add_manifest("p", "/p.yaml", "d2", one_job(), 1.0)
    assert await store.manifest_on_finish(mine) == ON_FINISH
    assert await store.manifest_on_finish(plain) is None


async def test_deliveries_are_added_by_the_finish_and_survive_a_restart(
    open_store: Opener,
) -> None:
    store = await open_store()
    manifest_id, _ = await store.add_manifest("m", "/m.yaml", "d", one_job(), 1.0)
    hooks = (CONFIG_HOOK, *ON_FINISH.hooks("manifest"))
    await store.finish_manifest(manifest_id, "/results/m/report.json", "/processed/m", 5.0, hooks)
    await store.close()

    store = await open_store()  # as a daemon killed after the finish, started again
    try:
        pending = await store.pending_hooks()
        # Which hook each is (its arguments are the config's or the manifest's, not stored).
        assert [(d.hook.kind, d.hook.origin, d.hook.target) for d in pending] == [
            (h.kind, h.origin, h.target) for h in hooks
        ]
        assert {d.state for d in pending} == {"pending"}
        assert {d.created_at for d in pending} == {5.0}
        assert all(d.report_path == "/results/m/report.json" for d in pending)
        assert all(d.manifest == "m" for d in pending)
        assert len({d.delivery_id for d in pending}) == 3

        first, second, third = pending
        assert await store.record_hook(first.id, "pending", 1, 20.0, "HTTP 503", 6.0)
        assert await store.record_hook(second.id, "delivered", 1, 6.0, None, 6.0)
        assert await store.record_hook(third.id, "failed", 1, 6.0, "HTTP 404", 6.0)
        # A delivery that ended is not changed again.
        assert not await store.record_hook(second.id, "failed", 2, 7.0, "late", 7.0)

        (still,) = await store.pending_hooks()
        assert (still.id, still.attempts, still.next_attempt_at, still.last_error) == (
            first.id,
            1,
            20.0,
            "HTTP 503",
        )
        every = {d.id: d for d in await store.hook_deliveries()}
        assert every[second.id].state == "delivered"
        assert every[second.id].delivered_at == 6.0
        assert every[third.id].last_error == "HTTP 404"
        assert every[first.id].delivery_id == first.delivery_id  # the same on every attempt
    finally:
        await store.close()


async def test_a_finish_without_hooks_adds_nothing(store: Store) -> None:
    manifest_id, _ = await store.add_manifest("m", "/m.yaml", "d", one_job(), 1.0)
    await store.finish_manifest(manifest_id, "/r.json", "/p", 2.0)
    assert await store.pending_hooks() == []
    assert await store.hook_deliveries() == []


@pytest.fixture
def api_key() -> Iterator[str]:
    """A secret registered for redaction, as the daemon registers its credentials."""
    value = "AQVN-test-api-key-0123456789"
    register_secret(value)
    yield value
    _known_secrets.discard(value)


async def test_stored_errors_hold_no_secret(store: Store, api_key: str) -> None:
    # A hook's stderr (or any error) that quotes a credential is stored without it, and
    # so `status` and /status never serve it.
    manifest_id, _ = await store.add_manifest("m", "/m.yaml", "d", one_job(), 1.0)
    (job,) = await store.manifest_jobs(manifest_id)
    error = f"upload: Api-Key {api_key} refused; see https://x.example/y?access_token=zz-tok"
    assert await store.update_job(job.id, None, {"error": error}, 2.0)
    await store.finish_manifest(manifest_id, "/r/m/report.json", "/p/m", 5.0, (CONFIG_HOOK,))
    (delivery,) = await store.pending_hooks()
    assert await store.record_hook(delivery.id, "pending", 1, 9.0, f"exit 1: {api_key}", 6.0)

    stored = await store.get_job(job.id)
    assert stored is not None
    (after,) = await store.hook_deliveries()
    for text in (stored.error, after.last_error, str(after.to_status())):
        assert text is not None
        assert api_key not in text
        assert "zz-tok" not in text
        assert REDACTED in text


async def test_a_delivery_keeps_no_argv_nor_url_and_can_be_cancelled(store: Store) -> None:
    # Whoever can write the deliveries must not choose what the daemons run: a delivery
    # names its hook (kind, origin), the arguments come from the config or the manifest.
    on_finish = OnFinish(command=("/usr/bin/notify", "--token=argv-secret"))
    manifest_id, _ = await store.add_manifest(
        "m", "/m.yaml", "d", one_job(), 1.0, on_finish=on_finish
    )
    hooks = (CONFIG_HOOK, *on_finish.hooks("manifest"))
    await store.finish_manifest(manifest_id, "/results/m/report.json", "/processed/m", 5.0, hooks)
    pending = await store.pending_hooks()
    assert [(d.hook.kind, d.hook.origin, d.hook.target) for d in pending] == [
        ("webhook", "config", "https://hooks.example/all"),
        ("command", "manifest", "/usr/bin/notify"),
    ]
    assert all(d.hook.command == () and d.hook.url == "" for d in pending)
    assert "argv-secret" not in repr(await store.hook_deliveries())

    assert await store.cancel_hooks("m", 6.0) == 2
    assert await store.pending_hooks() == []
    every = await store.hook_deliveries()
    assert {(d.state, d.last_error) for d in every} == {("failed", "cancelled by the operator")}
    assert await store.cancel_hooks("m", 7.0) == 0
