"""The status page is a pure function of the overview: what it shows, and that whatever a
user named (manifests, files, failure reasons) arrives as text, never as markup."""

from __future__ import annotations

import dataclasses
import json

import pytest

from orchestrator.core.hooks import Hook, HookDelivery
from orchestrator.core.jobs import ManifestStatus
from orchestrator.core.quota import QuotaUsage
from orchestrator.service.overview import FailedJob, Overview
from orchestrator.service.status_page import FINISHED_SHOWN, duration, render_page
from tests.support.dom import parse

NOW = 1_700_000_000.0
HOSTILE_NAME = "<script>document.title='owned'</script>"
HOSTILE_REASON = 'not audio: <img src=x onerror="alert(1)"> & more'


def manifest(
    mid: int, name: str, state: str = "active", finished_at: float | None = None, **counts: int
) -> ManifestStatus:
    return ManifestStatus(
        id=mid,
        name=name,
        path=f"/inbox/{mid}.yaml",
        state=state,
        created_at=NOW - 600,
        finished_at=finished_at,
        report_path=None,
        counts=dict(counts),
    )


QUOTAS = [
    QuotaUsage("submit", 120, 380, 3672.0),
    QuotaUsage("status", 400, 2100, 3672.0, paused_until=NOW + 42),
    QuotaUsage("status_v3", 0, 5, 1.275),
    QuotaUsage("asr_xml", 3, 17, 1.02),
    QuotaUsage("audio", 7200, 36_000_000 - 7200, 88_128.0),
]


def overview(**changes: object) -> Overview:
    fields: dict[str, object] = {
        "node": "rec-01",
        "started_at": NOW - 3725,
        "now": NOW,
        "jobs": {"done": 7, "failed": 2, "running": 3, "queued": 4},
        "manifests": [
            manifest(1, "calls-may", done=7, failed=2, running=3, queued=4),
            manifest(2, HOSTILE_NAME, queued=1),
        ],
        "quotas": QUOTAS,
        "failures": [
            FailedJob(9, HOSTILE_NAME, "/calls/<b>x</b>.wav", HOSTILE_REASON, NOW - 5),
            FailedJob(4, "calls-may", "/calls/b.wav", "the service said: bad audio", NOW - 60),
        ],
        "hooks": {},
    }
    fields.update(changes)
    return Overview(**fields)  # type: ignore[arg-type]


def test_manifests_show_progress_done_failed_and_total() -> None:
    page = parse(render_page(overview()))
    row = page.one("tr", data_manifest="calls-may")
    assert row.one("td", class_="done").text == "7"
    assert row.one("td", class_="failed").text == "2"
    assert row.one("td", class_="total").text == "16"
    assert row.one("span", class_="pct").text == "56.2%"  # 9 of 16 ended
    assert row.one("div", class_="bar").attrs["aria-label"] == "7 done, 2 failed of 16"
    assert row.one("td", class_="states").text == "7 done, 2 failed, 4 queued, 3 running"
    # 9 ended in 600 s: 7 to go at that pace.
    assert row.one("td", class_="eta").text == "7 min"
    assert page.one(id="node").text == "rec-01"
    assert page.one(id="uptime").text == "62 min"


def test_a_standing_manifest_is_shown_as_standing() -> None:
    desk = dataclasses.replace(manifest(3, "desk", done=2, queued=1), standing=True)
    page = parse(render_page(overview(manifests=[desk, manifest(4, "calls", queued=1)])))
    assert page.one("tr", data_manifest="desk").one("td", class_="state").text == "standing"
    assert page.one("tr", data_manifest="calls").one("td", class_="state").text == "active"


def test_runs_of_one_name_are_told_apart() -> None:
    runs = [
        manifest(3, "day1", "finished", NOW - 60, done=2),
        manifest(5, "day1", done=1),
        manifest(4, "calls", queued=1),
    ]
    page = parse(render_page(overview(manifests=runs)))
    shown = [
        (r.attrs["data-manifest"], r.one("td", class_="name").text)
        for r in page.find_all("tr")
        if "data-manifest" in r.attrs
    ]
    assert sorted(shown) == [("calls", "calls"), ("day1", "day1#1"), ("day1", "day1#2")]


def test_user_input_is_text_never_markup() -> None:
    text = render_page(overview())
    page = parse(text)
    # The only elements are the page's own: no script, no image, whatever the names said.
    assert not page.find_all("script")
    assert not page.find_all("img")
    assert "<script" not in text.lower()
    row = page.one("tr", data_manifest=HOSTILE_NAME)
    assert row.one("td", class_="name").text == HOSTILE_NAME
    failure = page.one("tr", data_job="9")
    assert failure.one("td", class_="reason").text == HOSTILE_REASON
    assert failure.one("td", class_="source").text == "/calls/<b>x</b>.wav"
    assert failure.one("td", class_="manifest").text == HOSTILE_NAME
    # The node name is the operator's, and escaped all the same (title and header).
    hostile_node = parse(render_page(overview(node='"><script>x</script>')))
    assert not hostile_node.find_all("script")
    assert hostile_node.one("title").text == 'speechkit-orchestrator on "><script>x</script>'


def test_every_quota_with_its_use_window_and_pause() -> None:
    page = parse(render_page(overview()))
    rows = {row.attrs["data-quota"]: row for row in page.one(id="quotas").find_all("tr")[1:]}
    assert list(rows) == ["submit", "status", "status_v3", "asr_xml", "audio"]
    submit = rows["submit"]
    assert (submit.one("td", class_="used").text, submit.one("td", class_="left").text) == (
        "120",
        "380",
    )
    assert submit.one("td", class_="limit").text == "500"
    assert submit.one("td", class_="window").text == "per 61 min"
    assert rows["status"].one("td", class_="pause").text == "paused 42 s after a 429"
    assert rows["submit"].one("td", class_="pause").text == ""
    # The daily audio quota in hours.
    audio = rows["audio"]
    assert (audio.one("td", class_="used").text, audio.one("td", class_="limit").text) == (
        "2 h",
        "10,000 h",
    )
    assert rows["status_v3"].one("td", class_="window").text == "per 1.3 s"


def test_failures_newest_first_and_none() -> None:
    page = parse(render_page(overview()))
    assert [row.attrs["data-job"] for row in page.one(id="failures").find_all("tr")[1:]] == [
        "9",
        "4",
    ]
    assert page.one("tr", data_job="4").one("td", class_="when").text == "2023-11-14 22:12:20 UTC"
    calm = parse(render_page(overview(failures=[])))
    assert calm.one(id="failures").one("p", class_="empty").text == "No failed jobs."


def test_a_failures_reason_does_not_repeat_its_file() -> None:
    failure = FailedJob(5, "calls-may", "/calls/c.wav", "/calls/c.wav: file not found", NOW)
    page = parse(render_page(overview(failures=[failure])))
    row = page.one("tr", data_job="5")
    assert row.one("td", class_="source").text == "/calls/c.wav"
    assert row.one("td", class_="reason").text == "file not found"


def test_active_manifests_first_then_the_newest_finished_ones() -> None:
    finished = [
        manifest(10 + i, f"old-{i}", "finished", finished_at=NOW - 1000 + i, done=1)
        for i in range(FINISHED_SHOWN + 3)
    ]
    page = parse(render_page(overview(manifests=[*finished, manifest(1, "live", running=1)])))
    names = [row.attrs["data-manifest"] for row in page.one(id="manifests").find_all("tr")[1:]]
    newest = [f"old-{i}" for i in range(FINISHED_SHOWN + 2, 2, -1)]
    assert names == ["live", *newest]
    assert page.one(id="manifests").one("p", class_="note").text.startswith("and 3 older")


def test_an_empty_daemon() -> None:
    page = parse(render_page(overview(jobs={}, manifests=[], failures=[])))
    assert page.one(id="manifests").one("p", class_="empty").text.startswith("No manifests yet")
    assert page.one(id="jobs").text == "no jobs"


def test_the_page_reloads_itself_and_runs_no_script() -> None:
    page = parse(render_page(overview(), refresh_s=7))
    (refresh,) = [m for m in page.find_all("meta") if m.attrs.get("http-equiv") == "refresh"]
    assert refresh.attrs["content"] == "7"
    assert not page.find_all("script")
    assert not page.find_all("link")  # nothing fetched from elsewhere


def test_the_status_document_is_json_with_the_same_facts() -> None:
    document = json.loads(json.dumps(overview().to_dict()))
    assert document["node"] == "rec-01"
    assert document["uptime_s"] == 3725.0
    assert [m["name"] for m in document["manifests"]] == ["calls-may", HOSTILE_NAME]
    assert document["manifests"][0]["counts"]["failed"] == 2
    assert [q["quota"] for q in document["quotas"]] == [
        "submit",
        "status",
        "status_v3",
        "asr_xml",
        "audio",
    ]
    assert document["quotas"][1]["paused_for_s"] == 42.0
    assert document["quotas"][4]["unit"] == "seconds"
    assert document["quotas"][0]["limit"] == 500
    assert document["failures"][0] == {
        "job_id": 9,
        "manifest": HOSTILE_NAME,
        "source": "/calls/<b>x</b>.wav",
        "reason": HOSTILE_REASON,
        "failed_at": NOW - 5,
    }
    assert document["manifests"][0]["hooks"] == []


def test_the_status_document_shows_each_manifests_completion_hooks() -> None:
    hook = Hook("webhook", "config", url="https://hooks.example/done?token=s3cr3t")
    delivery = HookDelivery(
        id=1,
        delivery_id="d-1",
        manifest_id=1,
        manifest="calls-may",
        hook=hook,
        state="pending",
        attempts=2,
        next_attempt_at=NOW + 30,
        last_error="HTTP 503",
        created_at=NOW - 10,
        updated_at=NOW - 1,
        delivered_at=None,
        report_path="/out/calls-may/report.json",
    )
    document = overview(hooks={1: [delivery]}).to_dict()
    (shown,) = document["manifests"][0]["hooks"]
    assert shown["target"] == "https://hooks.example/done"  # never the query's token
    assert (shown["state"], shown["attempts"], shown["last_error"]) == ("pending", 2, "HTTP 503")
    assert shown["next_attempt_at"] == NOW + 30
    assert document["manifests"][1]["hooks"] == []


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0.25, "0.2 s"),
        (1.275, "1.3 s"),
        (45, "45 s"),
        (119.4, "119 s"),
        (3672, "61 min"),
        (7200, "2 h 00 min"),
        (88_128, "24 h 28 min"),
        (200_000, "2 d 07 h"),
    ],
)
def test_durations_for_a_person(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text
