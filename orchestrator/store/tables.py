"""The schema both databases arrive at after migrating, by name: each table's columns and
indexes, and the little that only one of them has, with why. The DDL itself is in each
dialect's numbered migrations (numbered differently: renumbering would re-run steps on
existing databases), so the schema-parity test compares what they arrive at with this;
copying a state file into PostgreSQL (``store.migrate``) reads its column lists here.
"""

from __future__ import annotations

from collections.abc import Mapping

# The tables of both, each with its columns in the order the migrations create them.
TABLES: Mapping[str, tuple[str, ...]] = {
    "manifests": (
        "id", "name", "path", "digest", "state", "created_at", "finished_at", "report_path",
        "on_finish", "standing",
    ),
    "jobs": (
        "id", "manifest_id", "source", "output", "settings", "settings_key", "priority",
        "state", "attempts", "next_action_at", "lease_owner", "lease_until", "content_hash",
        "audio", "object_key", "operation_id", "submitted_at", "submissions", "polls",
        "last_poll_at", "leader_id", "error", "created_at", "updated_at", "finished_at", "api",
        "note", "output_options", "parent_id", "part", "source_stamp",
    ),
    "results": ("content_hash", "settings_key", "operation_id", "response", "created_at"),
    "quota_ledger": ("quota", "spent_at", "amount"),
    "kv": ("key", "value"),
    "hook_deliveries": (
        "id", "delivery_id", "manifest_id", "kind", "origin", "target", "state", "attempts",
        "next_attempt_at", "last_error", "created_at", "updated_at", "delivered_at",
    ),
}  # fmt: skip

# A quota's pause after a 429: one table in each, named for what it is there. PostgreSQL's
# row is also the lock every claim on the quota takes, so it is created before any pause.
PAUSES = {
    "sqlite": ("quota_pauses", ("quota", "until", "strikes")),
    "postgres": ("quotas", ("name", "paused_until", "strikes")),
}

# Several daemons share a PostgreSQL database: each manifest and job says which node took
# it in, and a job whether its audio is a path on that node (claims filter on both).
POSTGRES_ONLY_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "manifests": ("node",),
    "jobs": ("node", "local"),
}

# The indexes of both (constraints' own left out), each with its table.
INDEXES: Mapping[str, str] = {
    "manifests_one_active_name": "manifests",
    "jobs_claim": "jobs",
    "jobs_by_manifest": "jobs",
    "jobs_by_content": "jobs",
    "jobs_by_object": "jobs",
    "jobs_by_leader": "jobs",
    "jobs_by_lease_owner": "jobs",
    "jobs_one_leader": "jobs",
    "jobs_failed_recent": "jobs",
    "jobs_by_parent": "jobs",
    "quota_ledger_by_time": "quota_ledger",
    "hook_deliveries_pending": "hook_deliveries",
    "hook_deliveries_by_manifest": "hook_deliveries",
}

# SQLite's claims walk jobs_claim once per (priority, API) pair in use, kept in a table of
# their own; PostgreSQL finds the priorities by skipping through the index instead.
SQLITE_ONLY_TABLES: Mapping[str, tuple[str, ...]] = {"job_classes": ("priority", "api")}

# PostgreSQL records the migrations applied in a table (SQLite: PRAGMA user_version).
POSTGRES_ONLY_TABLES: Mapping[str, tuple[str, ...]] = {
    "schema_migrations": ("version", "applied_at"),
}

# PostgreSQL's planner, with statistics, uses these: a manifest found by digest and the
# active ones by node (intake on several nodes), and jobs_due for the due-time and
# concurrency-cap queries. SQLite's claims and wake-ups read jobs_claim alone.
POSTGRES_ONLY_INDEXES: Mapping[str, str] = {
    "manifests_by_digest": "manifests",
    "manifests_active_by_node": "manifests",
    "jobs_due": "jobs",
}
