"""The status page of the real daemon (the CLI as a subprocess, the emulator, moto's S3
server), rendered by headless Chromium: progress, quotas and failures as a browser shows
them, user input shown as text, and a screenshot kept with the test's files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import S3Server
from tests.support import browser
from tests.support.daemon import DEMO_FILES, emulated_daemon, eventually
from tests.support.dom import Element, parse

pytestmark = pytest.mark.e2e

LIMIT_S = 90.0  # guards against a hung daemon, not timing assertions
NODE = "rec-01"
# A file name a user could give: markup, if the page let it through as such.
HOSTILE = '<img src=x onerror="document.body.dataset.owned=1">.wav'
QUOTAS = ["submit", "status", "status_v3", "asr_xml", "audio"]


def rows(section: Element) -> list[Element]:
    """The body rows of the one table in ``section``."""
    return section.one("tbody").find_all("tr")


async def get_json(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as answer:
        assert answer.status == 200
        return await answer.json()


def check_progress(page: Element) -> None:
    """The finished manifest, the one still running, and the jobs by state."""
    finished = page.one("tr", data_manifest="calls-2024-05")
    assert finished.one("td", class_="state").text == "finished"
    assert finished.one("td", class_="done").text == "3"
    assert finished.one("td", class_="failed").text == "2"
    assert finished.one("td", class_="total").text == "5"
    assert finished.one("span", class_="pct").text == "100.0%"
    active = page.one("tr", data_manifest="archive")
    assert active.one("td", class_="state").text == "active"
    assert active.one("td", class_="done").text == "0"
    assert active.one("td", class_="total").text == "2"
    assert active.one("td", class_="states").text == "2 running"
    chips = {chip.attrs["data-state"]: chip.text for chip in page.one(id="jobs").find_all("span")}
    assert chips == {"running": "2 running", "done": "3 done", "failed": "2 failed"}


def check_quotas(page: Element) -> None:
    """Every quota in its row, with what this run spent, none paused."""
    quotas = {row.attrs["data-quota"]: row for row in rows(page.one(id="quotas"))}
    assert list(quotas) == QUOTAS
    # Five submissions (the two bad files never reached the service).
    assert quotas["submit"].one("td", class_="used").text == "5"
    assert quotas["asr_xml"].one("td", class_="used").text == "0"
    assert quotas["audio"].one("td", class_="used").text.endswith(" h")
    for row in quotas.values():
        assert row.one("td", class_="pause").text == ""


def check_failures(page: Element, status: dict[str, Any]) -> None:
    """The two failed files, named as text, in /status's order."""
    failures = rows(page.one(id="failures"))
    by_file = {Path(row.one("td", class_="source").text).name: row for row in failures}
    assert set(by_file) == {"empty.wav", HOSTILE}
    assert "empty" in by_file["empty.wav"].one("td", class_="reason").text.lower()
    # The hostile name is shown as text in its own column (above), and not again in the
    # reason, which begins where the path ended.
    reason = by_file[HOSTILE].one("td", class_="reason").text
    assert reason.startswith("the name ends in .wav (WAV) but the bytes are MP3"), reason
    assert HOSTILE not in reason
    assert {row.one("td", class_="manifest").text for row in failures} == {"calls-2024-05"}
    # The page and /status come from one gathering: the same failures, newest first.
    assert [row.attrs["data-job"] for row in failures] == [
        str(f["job_id"]) for f in status["failures"]
    ]


async def test_the_status_page_in_a_real_browser(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    # Deferred operations take a million times longer than the others: those jobs are
    # still running when the page is read, whatever the machine's speed.
    async with (
        emulated_daemon(
            tmp_path / "daemon",
            s3_server,
            s3_bucket,
            emulator_options={"deferred_factor": 1e6},
            service={"node": NODE},
        ) as (_emu, env),
        aiohttp.ClientSession() as http,
    ):
        audio = env.copy_audio(DEMO_FILES[:5])
        (audio / "empty.wav").write_bytes(b"")
        (audio / HOSTILE).write_bytes((audio / "podcast-mono.mp3").read_bytes())
        process = await env.start()
        try:
            (ready,) = await env.wait_for_event("daemon.ready", limit_s=LIMIT_S)
            base = ready["status_address"]
            env.put_manifest(
                "calls-2024-05",
                [{"audio": name} for name in (*DEMO_FILES[:3], "empty.wav", HOSTILE)],
                base_dir=audio,
            )
            env.put_manifest(
                "archive",
                [{"audio": name, "model": "deferred-general"} for name in DEMO_FILES[3:5]],
                base_dir=audio,
            )
            await env.wait_for_event("manifest.finished", manifest="calls-2024-05", limit_s=LIMIT_S)

            async def archive_running() -> bool:
                status = await get_json(http, base + "/status")
                found = [m for m in status["manifests"] if m["name"] == "archive"]
                return bool(found) and found[0]["counts"] == {"running": 2}

            await eventually(archive_running, LIMIT_S)
            dom = await browser.dump_dom(base + "/")
            status = await get_json(http, base + "/status")
            shot = await browser.screenshot(base + "/", tmp_path / "status-page.png")
            print(f"status page screenshot: {shot}")
        finally:
            await env.stop(process)

    page = parse(dom)
    # Nothing a user named ran: no element but the page's own, no attribute set by a script.
    assert not page.find_all("img")
    assert not page.find_all("script")
    assert "data-owned" not in dom
    assert page.one(id="node").text == NODE

    check_progress(page)
    check_quotas(page)
    check_failures(page, status)
    assert [q["quota"] for q in status["quotas"]] == QUOTAS
    assert status["node"] == NODE

    assert browser.png_size(shot) == browser.WINDOW
    assert json.dumps(status)  # JSON through and through
    assert "Traceback" not in env.output()
