"""A manifest named ``<script>`` (the store takes any name; intake would refuse it) and a
failure reason full of markup, on the status page as headless Chromium renders it: text,
not elements. The page is served by the real status server from a real SQLite store."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchestrator.core.jobs import State
from orchestrator.core.settings import RecognitionSettings
from orchestrator.pipeline.ledger import QuotaLedger
from orchestrator.pipeline.settings import default_quotas
from orchestrator.service.overview import gather
from orchestrator.service.status_page import render_page
from orchestrator.service.status_server import StatusServer
from orchestrator.store import JobUpdate, NewJob
from orchestrator.store.sqlite import SQLiteStore
from orchestrator.telemetry.metrics import DaemonMetrics
from tests.support import browser
from tests.support.dom import parse

# A browser per test: `make test` runs them, `make test-fast` does not.
pytestmark = pytest.mark.slow

NAME = "<script>document.body.dataset.owned='yes'</script>"
REASON = 'bad audio: <img src=x onerror="document.body.dataset.owned=1"><b>bold</b>'


@pytest.fixture
async def page_url(tmp_path: Path) -> AsyncIterator[str]:
    """The status page of a store holding the hostile manifest, on a free loopback port."""
    store = await SQLiteStore.open(tmp_path / "state.sqlite3")
    metrics = DaemonMetrics()
    ledger = QuotaLedger(store, metrics, time.time)
    jobs = [NewJob(f"/audio/{i}.wav", f"o{i}", RecognitionSettings()) for i in range(3)]
    await store.add_manifest(NAME, "/inbox/x.yaml", "d", jobs, time.time())
    (first, *_) = await store.jobs_in([State.QUEUED])
    failed: JobUpdate = {"state": State.FAILED, "error": REASON, "finished_at": time.time()}
    await store.update_job(first.id, None, failed, time.time())

    async def page() -> str:
        overview = await gather(
            store, ledger, default_quotas(), node="n1", started_at=0.0, now=time.time()
        )
        return render_page(overview)

    async def health() -> bool:
        return True

    async def status() -> dict[str, object]:
        return {}

    server = StatusServer("127.0.0.1", 0, health, status, metrics, page=page)
    host, port = await server.start()
    try:
        yield f"http://{host}:{port}/"
    finally:
        await server.stop()
        await store.close()


async def test_a_hostile_manifest_name_and_reason_render_as_text(page_url: str) -> None:
    dom = await browser.dump_dom(page_url)
    page = parse(dom)
    assert not page.find_all("script")
    assert not page.find_all("img")
    assert [b.attrs for b in page.find_all("b")] == [{"id": "node"}]  # the page's own only
    assert "data-owned" not in dom
    row = page.one("tr", data_manifest=NAME)
    assert row.one("td", class_="name").text == NAME
    assert row.one("td", class_="failed").text == "1"
    assert row.one("td", class_="total").text == "3"
    (failure,) = page.one(id="failures").one("tbody").find_all("tr")
    assert failure.one("td", class_="manifest").text == NAME
    assert failure.one("td", class_="reason").text == REASON
    assert page.one("title").text == "speechkit-orchestrator on n1"
