"""What only the PostgreSQL store has to show: several daemons on one database claim
each job once, together never spend more than a quota in any sliding window, merge what
they learn, take a manifest in once, keep to their node's jobs where they must, and a
claim over a large backlog, like the status page's newest failures, is served by an index."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from orchestrator.core.jobs import State
from orchestrator.core.quota import Pause, QuotaSpec
from orchestrator.core.settings import RecognitionSettings
from orchestrator.store import Affinity, Claim, NewJob, Spend, StoreError, StoreLocked
from orchestrator.store.postgres import SCHEMA_VERSION, PostgresStore
from orchestrator.store.postgres.schema import MIGRATIONS, Q
from tests.support.postgres import USER, PostgresServer

DAEMONS = 4


@pytest.fixture
def database(postgres_server: PostgresServer) -> str:
    """The URL of a new, empty database."""
    return postgres_server.create_database()


@pytest.fixture
async def daemons(
    database: str, postgres_server: PostgresServer
) -> AsyncIterator[list[PostgresStore]]:
    """One store (its own pool) per daemon, all on the same database."""
    stores = [await PostgresStore.open(database, postgres_server.password) for _ in range(DAEMONS)]
    yield stores
    for store in stores:
        await store.close()


def new_jobs(count: int, prefix: str = "a", source: str = "/audio/") -> list[NewJob]:
    return [
        NewJob(f"{source}{prefix}{i}.ogg", f"{prefix}{i}", RecognitionSettings())
        for i in range(count)
    ]


def worst_window(times: list[float], window_s: float) -> int:
    """The most spend times inside any half-open window ``[t, t + window_s)``."""
    times = sorted(times)
    return max((sum(1 for u in times if t <= u < t + window_s) for t in times), default=0)


async def test_daemons_together_never_exceed_a_quota_in_any_window(
    daemons: list[PostgresStore],
) -> None:
    await daemons[0].add_manifest("m", "/m.yaml", "d", new_jobs(300), 0.0, node="n0")
    spec = QuotaSpec(limit=7, window_s=10.0)
    ask = Claim((State.QUEUED,), 5, 1000.0, spends=(Spend("submit", spec),))
    claimed: list[int] = []

    async def daemon(index: int) -> None:
        # Each daemon claims as fast as it can while its clock moves through 60 s.
        for step in range(40):
            now = 100.0 + step * 1.5 + index * 0.01
            got = await daemons[index].claim(ask, f"n{index}:1:x", now)
            claimed.extend(job.id for job in got.jobs)

    await asyncio.gather(*(daemon(i) for i in range(DAEMONS)))
    spent = await daemons[0].quota_spent("submit", 0.0)
    assert len(spent) == len(claimed) > 0
    assert worst_window(spent, spec.window_s) == spec.effective_limit
    # Every job claimed once (leases outlive the test's clock).
    assert len(set(claimed)) == len(claimed)


async def test_a_pause_seen_by_one_daemon_holds_every_daemon(daemons: list[PostgresStore]) -> None:
    await daemons[0].add_manifest("m", "/m.yaml", "d", new_jobs(10), 0.0, node="n0")
    ask = Claim((State.QUEUED,), 5, 1.0, spends=(Spend("status", QuotaSpec(100, 60.0)),))
    await daemons[1].pause_quota("status", lambda _current: Pause(50.0))
    for index, store in enumerate(daemons):
        held = await store.claim(ask, f"n{index}:1:x", 20.0)
        assert (held.jobs, held.wake_at) == ([], 50.0)
    assert len((await daemons[2].claim(ask, "n2:1:x", 50.0)).jobs) == 5


async def test_daemons_count_the_429s_in_a_row_together(daemons: list[PostgresStore]) -> None:
    def strike(current: Pause | None) -> Pause:
        strikes = 1 if current is None else current.strikes + 1
        return Pause(100.0 * strikes, strikes)

    pauses = await asyncio.gather(*(store.pause_quota("submit", strike) for store in daemons))
    # Serialised under the quota's row lock: each daemon built on the one before.
    assert sorted(p.strikes for p in pauses) == list(range(1, DAEMONS + 1))
    assert await daemons[0].quota_paused_until("submit") == 100.0 * DAEMONS


async def test_learned_state_is_merged_not_overwritten(daemons: list[PostgresStore]) -> None:
    def add_one(current: str | None) -> str:
        return json.dumps((json.loads(current) if current else 0) + 1)

    await asyncio.gather(*(store.kv_update("k", add_one) for store in daemons for _ in range(25)))
    assert await daemons[0].kv_get("k") == str(DAEMONS * 25)


async def test_two_daemons_racing_on_one_inbox_take_a_manifest_once(
    daemons: list[PostgresStore],
) -> None:
    results = await asyncio.gather(
        *(
            store.add_manifest("calls", "/in/a.yaml", "d1", new_jobs(20), 1.0, node=f"n{i}")
            for i, store in enumerate(daemons)
        )
    )
    assert sorted(new for _, new in results) == [False] * (DAEMONS - 1) + [True]
    assert len({manifest_id for manifest_id, _ in results}) == 1
    assert await daemons[0].counts_by_state() == {"queued": 20}


async def test_local_audio_is_taken_only_by_its_node(daemons: list[PostgresStore]) -> None:
    a, b = daemons[0], daemons[1]
    await a.add_manifest("local-a", "/a.yaml", "da", new_jobs(2, "l"), 1.0, node="a")
    await a.add_manifest(
        "remote-a", "/r.yaml", "dr", new_jobs(2, "r", "s3://bucket/"), 1.0, node="a"
    )
    upload_b = Claim((State.QUEUED,), 10, 1.0, affinity=Affinity("b"))
    fetch_b = Claim((State.QUEUED,), 10, 1.0, affinity=Affinity("b", every_job=True))
    assert await b.next_due([State.QUEUED], 5.0, affinity=fetch_b.affinity) is None
    assert (await b.claim(fetch_b, "b:1:x", 5.0)).jobs == []
    # Node b can take the objects already in storage, never a's local files.
    assert await b.next_due([State.QUEUED], 5.0, affinity=upload_b.affinity) == 1.0
    taken = (await b.claim(upload_b, "b:1:x", 5.0)).jobs
    assert sorted(job.source for job in taken) == ["s3://bucket/r0.ogg", "s3://bucket/r1.ogg"]
    # What b holds comes due for the others when its lease runs out, should b die.
    assert await b.next_due([State.QUEUED], 5.0, affinity=upload_b.affinity) == 6.0
    mine = await a.claim(Claim((State.QUEUED,), 10, 1.0, affinity=Affinity("a")), "a:1:x", 5.0)
    assert sorted(job.source for job in mine.jobs) == ["/audio/l0.ogg", "/audio/l1.ogg"]
    (status, _) = await a.manifests()
    assert status.node == "a"
    assert await b.manifests_to_finish("b") == []


async def test_a_daemon_hears_of_work_another_one_brings(daemons: list[PostgresStore]) -> None:
    heard: asyncio.Queue[State] = asyncio.Queue()
    await daemons[0].watch(heard.put_nowait)
    await daemons[1].add_manifest("m", "/m.yaml", "d", new_jobs(3), 1.0, node="b")
    assert await asyncio.wait_for(heard.get(), 30) is State.QUEUED
    (job, *_) = (await daemons[1].claim(Claim((State.QUEUED,), 1, 60.0), "b:1:x", 2.0)).jobs
    await daemons[1].update_job(job.id, State.QUEUED, {"state": State.UPLOADED}, 3.0)
    assert await asyncio.wait_for(heard.get(), 30) is State.UPLOADED


async def test_one_daemon_per_node_name(daemons: list[PostgresStore]) -> None:
    await daemons[0].acquire("a")
    with pytest.raises(StoreLocked, match="'a'"):
        await daemons[1].acquire("a")
    await daemons[1].acquire("b")


async def test_a_wrong_password_is_a_clear_error_that_does_not_show_it(database: str) -> None:
    with pytest.raises(StoreError) as caught:
        await PostgresStore.open(database, "not-the-password-1234")
    message = str(caught.value)
    assert "not-the-password-1234" not in message
    assert database in message  # the URL names user, host, port and database, no secret
    assert "password authentication failed" in message


async def test_a_newer_schema_is_refused(database: str, postgres_server: PostgresServer) -> None:
    store = await PostgresStore.open(database, postgres_server.password)
    await store.close()
    postgres_server.psql(
        f"INSERT INTO schema_migrations (version) VALUES ({SCHEMA_VERSION + 1})",
        database.rsplit("/", 1)[1],
    )
    with pytest.raises(StoreError, match="newer"):
        await PostgresStore.open(database, postgres_server.password)


async def test_daemons_starting_together_migrate_once(
    database: str, postgres_server: PostgresServer
) -> None:
    stores = await asyncio.gather(
        *(PostgresStore.open(database, postgres_server.password) for _ in range(3))
    )
    for store in stores:
        await store.close()
    versions = postgres_server.psql(
        "SELECT version FROM schema_migrations", database.rsplit("/", 1)[1]
    )
    assert versions.split() == [str(n) for n in range(1, SCHEMA_VERSION + 1)]


def plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Every node of an EXPLAIN (FORMAT JSON) plan, init plans and CTEs included."""
    found = [plan]
    for child in plan.get("Plans", []):
        found.extend(plan_nodes(child))
    return found


@pytest.mark.slow
async def test_a_claim_over_a_large_backlog_is_served_by_the_index(
    database: str, postgres_server: PostgresServer
) -> None:
    jobs = 100_000
    store = await PostgresStore.open(database, postgres_server.password)
    await store.add_manifest("big", "/big.yaml", "d", new_jobs(1), 0.0, node="a")
    await store.close()
    # A backlog as a big batch leaves it: most uploaded (waiting for the submission quota)
    # or running (waiting for their checks, most not yet due), three priorities, two APIs.
    postgres_server.psql(
        f"""
        INSERT INTO jobs (manifest_id, source, output, settings, settings_key, api, priority,
                          node, local, state, next_action_at, created_at, updated_at)
        SELECT 1, '/a/' || i || '.ogg', 'o' || i, '{{}}', 'k', CASE WHEN i % 5 = 0 THEN 'v3'
               ELSE 'v2' END, i % 3, 'a', true,
               CASE WHEN i % 2 = 0 THEN 'uploaded' ELSE 'running' END,
               CASE WHEN i % 2 = 0 THEN i ELSE 1000000 + i END, 0, 0
        FROM generate_series(2, {jobs}) AS i;
        ANALYZE jobs;
        """,
        database.rsplit("/", 1)[1],
    )
    query = Q["select_due"]
    args = query.args(
        {
            "states": ["running"],
            "apis": ["v2"],
            "now": 1000500.0,
            "limit": 32,
            "node": None,
            "every_job": False,
        }
    )
    connection = await asyncpg.connect(database, password=postgres_server.password)
    try:
        for states, now in ((["running"], 1000500.0), (["uploaded", "submitting"], 1e9)):
            args[query.params.index("states")] = states
            args[query.params.index("now")] = now
            async with connection.transaction():
                text = await connection.fetchval(
                    f"EXPLAIN (ANALYZE, FORMAT JSON) {query.text}", *args
                )
            (top,) = json.loads(text)
            nodes = plan_nodes(top["Plan"])
            assert not [n for n in nodes if n["Node Type"] == "Seq Scan"], text
            assert any(n.get("Index Name") == "jobs_claim" for n in nodes), text
            # Only the candidates are sorted: at most a limit's worth per priority.
            sorts = [n for n in nodes if n["Node Type"] == "Sort"]
            assert all(n["Actual Rows"] * n.get("Actual Loops", 1) <= 3 * 32 for n in sorts), text
            # And the rows read from the index are of the same order, not the backlog's.
            read = sum(
                n["Actual Rows"] * n["Actual Loops"]
                for n in nodes
                if n.get("Index Name") == "jobs_claim"
            )
            assert read <= 10 * 32, text
            rows = await connection.fetch(query.text, *args)
            assert len(rows) == 32
            assert [r["priority"] for r in rows] == sorted(
                (r["priority"] for r in rows), reverse=True
            )
            assert all(
                (a["priority"], -a["next_action_at"]) >= (b["priority"], -b["next_action_at"])
                for a, b in itertools.pairwise(rows)
            )
    finally:
        await connection.close()


@pytest.mark.slow
async def test_the_newest_failures_of_a_large_store_are_read_through_their_index(
    database: str, postgres_server: PostgresServer
) -> None:
    jobs, failed_every, limit = 100_000, 10, 25
    store = await PostgresStore.open(database, postgres_server.password)
    await store.add_manifest("big", "/big.yaml", "d", new_jobs(1), 0.0, node="a")
    await store.close()
    # Every tenth job failed, each at its own time; the rest wait or are done.
    postgres_server.psql(
        f"""
        INSERT INTO jobs (manifest_id, source, output, settings, settings_key, api, priority,
                          node, local, state, error, finished_at, next_action_at, created_at,
                          updated_at)
        SELECT 1, '/a/' || i || '.ogg', 'o' || i, '{{}}', 'k', 'v2', 0, 'a', true,
               CASE WHEN i % {failed_every} = 0 THEN 'failed' WHEN i % 3 = 0 THEN 'done'
                    ELSE 'uploaded' END,
               CASE WHEN i % {failed_every} = 0 THEN 'not audio: ' || i END,
               CASE WHEN i % {failed_every} = 0 OR i % 3 = 0 THEN 1000 + i END, 0, 0, 0
        FROM generate_series(2, {jobs}) AS i;
        ANALYZE jobs;
        """,
        database.rsplit("/", 1)[1],
    )
    query = Q["recent_failures"]
    connection = await asyncpg.connect(database, password=postgres_server.password)
    try:
        text = await connection.fetchval(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {query.text}", *query.args({"limit": limit})
        )
    finally:
        await connection.close()
    (top,) = json.loads(text)
    nodes = plan_nodes(top["Plan"])
    assert not [n for n in nodes if n["Node Type"] == "Seq Scan" and n["Relation Name"] == "jobs"]
    assert not [n for n in nodes if n["Node Type"] == "Sort"], text
    (scan,) = [n for n in nodes if n.get("Index Name") == "jobs_failed_recent"]
    # As many rows as are shown, out of 10,000 failed.
    assert scan["Actual Rows"] * scan["Actual Loops"] <= limit, text
    store = await PostgresStore.open(database, postgres_server.password)
    try:
        newest = await store.recent_failures(3)
    finally:
        await store.close()
    assert [job.source for job in newest] == ["/a/100000.ogg", "/a/99990.ogg", "/a/99980.ogg"]
    assert newest[0].error == "not audio: 100000"


def runtime_role(server: PostgresServer, database: str) -> str:
    """A role that may only read and write the rows of ``database`` (no DDL, not the
    owner), as docs/postgresql.md grants it; its URL."""
    name = database.rsplit("/", 1)[1]
    role = f"run_{name}"
    server.psql(f"CREATE ROLE {role} LOGIN PASSWORD '{server.password}'")
    server.psql(
        f"REVOKE CREATE ON SCHEMA public FROM PUBLIC; "
        f"GRANT CONNECT ON DATABASE {name} TO {role}; "
        f"GRANT USAGE ON SCHEMA public TO {role}; "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}; "
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role};",
        name,
    )
    return database.replace(f"//{USER}@", f"//{role}@")


async def test_a_dml_only_role_runs_the_store_of_a_migrated_database(
    database: str, postgres_server: PostgresServer
) -> None:
    # The role that migrates (owns the schema) is not the daemon's: the daemon's may not
    # create or alter anything, and with state.migrate false it does not try.
    owner = await PostgresStore.open(database, postgres_server.password)
    await owner.close()
    url = runtime_role(postgres_server, database)
    store = await PostgresStore.open(url, postgres_server.password, migrate=False)
    try:
        manifest_id, _ = await store.add_manifest(
            "m", "/m.yaml", "d", [NewJob("/a.ogg", "a", RecognitionSettings())], 1.0
        )
        assert [m.name for m in await store.manifests()] == ["m"]
        await store.cancel_manifest("m", 2.0)
    finally:
        await store.close()
    assert manifest_id


async def test_a_daemon_that_may_not_migrate_refuses_an_old_schema(
    database: str, postgres_server: PostgresServer
) -> None:
    with pytest.raises(StoreError) as info:
        await PostgresStore.open(database, postgres_server.password, migrate=False)
    message = str(info.value)
    assert f"schema version 0, older than this program's {SCHEMA_VERSION}" in message
    assert "speechkit-orchestrator migrate --config" in message
    # Nothing was created meanwhile.
    assert (
        postgres_server.psql(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", database.rsplit("/", 1)[1]
        ).strip()
        == "0"
    )


async def test_deliveries_of_a_version_5_database_lose_their_argv_and_url(
    database: str, postgres_server: PostgresServer
) -> None:
    db = await asyncpg.connect(database, password=postgres_server.password)
    try:
        await db.execute(
            "CREATE TABLE schema_migrations ("
            "version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        for number, script in MIGRATIONS:
            if number <= 5:
                await db.execute(script)
                await db.execute("INSERT INTO schema_migrations (version) VALUES ($1)", number)
        await db.execute(
            "INSERT INTO manifests (name, path, digest, node, created_at) "
            "VALUES ('m', '/m', 'd', 'n', 1)"
        )
        for number, (kind, target) in enumerate(
            (
                ("command", '{"command": ["/bin/notify", "--token=argv-secret"]}'),
                ("webhook", '{"url": "https://h.example/x?token=url-secret"}'),
            )
        ):
            await db.execute(
                "INSERT INTO hook_deliveries (delivery_id, manifest_id, kind, origin, target, "
                "next_attempt_at, created_at, updated_at) "
                "SELECT $1, id, $2, 'config', $3, 1, 1, 1 FROM manifests",
                f"d{number}",
                kind,
                target,
            )
    finally:
        await db.close()
    store = await PostgresStore.open(database, postgres_server.password)
    try:
        pending = await store.pending_hooks()
        assert [d.hook.target for d in pending] == ["/bin/notify", "https://h.example/x"]
    finally:
        await store.close()
    stored = postgres_server.psql("SELECT target FROM hook_deliveries", database.rsplit("/", 1)[1])
    assert "secret" not in stored
