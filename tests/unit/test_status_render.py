"""``status``'s table: failed jobs apart from done, the daemons' liveness, the inbox."""

from __future__ import annotations

from typing import Any

from orchestrator.commands.status import render
from orchestrator.core.runs import parse_run


def manifest(counts: dict[str, int]) -> dict[str, Any]:
    return {
        "id": 1,
        "name": "calls",
        "state": "finished",
        "standing": False,
        "jobs": sum(counts.values()),
        "counts": counts,
        "progress": 1.0,
        "eta_s": None,
    }


def test_a_manifest_whose_jobs_all_failed_shows_them_failed_not_only_ended() -> None:
    shown = render({"manifests": [manifest({"failed": 8, "cancelled": 2})]}).splitlines()
    assert shown[0].split() == ["MANIFEST", "STATE", "DONE", "FAILED", "ENDED", "ETA", "STATES"]
    assert shown[1].split()[:6] == ["calls", "finished", "0/10", "10", "100.0%", "-"]


def test_the_daemons_and_the_inbox_are_said_first() -> None:
    snap = {
        "manifests": [],
        "daemons": [
            {"node": "a", "host": "h1", "pid": 7, "state": "silent", "seen_s_ago": 125.0},
            {"node": "", "host": "h2", "pid": 8, "state": "running", "seen_s_ago": 1.0},
        ],
        "inbox": {"path": "/in", "waiting": [f"m{i}.yaml" for i in range(7)]},
    }
    assert render(snap).splitlines() == [
        "daemon (node a): not heard of for 2m05s (pid 7 on h1): down? nothing is being worked on",
        "daemon: running, pid 8 on h2",
        "inbox /in: 7 manifest(s) not yet taken in: m0.yaml, m1.yaml, m2.yaml, m3.yaml, "
        "m4.yaml and 2 more",
        "no manifests yet",
    ]
    unread = {"manifests": [], "daemons": [], "inbox": {"path": "/in", "waiting": None}}
    assert render(unread).splitlines() == [
        "daemon: none has run on this store yet; start one (`run`, or its service)",
        "inbox /in: cannot be read here",
        "no manifests yet",
    ]


def test_runs_of_one_name_are_told_apart() -> None:
    first, second, other = manifest({"done": 1}), manifest({"done": 2}), manifest({"done": 3})
    second["id"], other["id"], other["name"] = 2, 3, "other"
    shown = render({"manifests": [first, second, other]}).splitlines()
    assert [line.split()[0] for line in shown[1:]] == ["calls#1", "calls#2", "other"]
    assert parse_run("calls#2") == ("calls", 2)
    assert parse_run("calls") == ("calls", None)
    assert parse_run("calls#x") == ("calls#x", None)
