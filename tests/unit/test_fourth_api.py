"""A fourth API is one spec, declared in this module alone: the lanes, the quota specs and
the config's generic maps, manifests, ``plan``, the ETA, the status page and the metrics take it
with no other change (nothing below ``speechkit/`` names an API)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from orchestrator.commands.plan import estimate, plan_windows
from orchestrator.config import config_from_mapping
from orchestrator.core.apis import ApiCatalogue, ApiSpec, ConcurrencyDecl, QuotaDecl, QuotaKind
from orchestrator.core.audio import AudioFacts
from orchestrator.core.constants import QUOTA_WINDOW_S
from orchestrator.core.decisions import NotFoundMeans
from orchestrator.core.finish_time import finish_time, whole_windows, work_of
from orchestrator.core.jobs import Job, ManifestStatus, Stage, State
from orchestrator.core.quota import QuotaSpec, QuotaUsage
from orchestrator.core.settings import RecognitionSettings
from orchestrator.intake.jobspec import JobSpec
from orchestrator.intake.manifest import validate_manifest
from orchestrator.intake.preparation import Preparation
from orchestrator.pipeline.lanes import lanes
from orchestrator.pipeline.settings import (
    PipelineSettings,
    default_concurrency,
    default_quotas,
    per_second,
    settings_from_config,
)
from orchestrator.service.overview import Overview
from orchestrator.service.status_page import render_page
from orchestrator.service.watching import progress_of
from orchestrator.speechkit import CATALOGUE
from orchestrator.speechkit.quotas import DAILY_AUDIO
from orchestrator.telemetry.metrics import DaemonMetrics
from tests.support.dom import parse
from tests.support.jobs import make_job

SUBMIT_V4 = QuotaDecl(
    name="submit_v4",
    title="recognition requests, API v4",
    kind=QuotaKind.WINDOW,
    limit=3,
    window_s=QUOTA_WINDOW_S,
)
STATUS_V4 = QuotaDecl(
    name="status_v4", title="status checks, API v4", kind=QuotaKind.RATE, limit=2, window_s=1.0
)
V4 = ApiSpec(
    name="v4",
    title="asynchronous API v4",
    asynchronous=True,
    models=("general",),
    languages=None,
    several_languages=False,
    unsupported=(),
    submit_quota=SUBMIT_V4.name,
    status_quota=STATUS_V4.name,
    result_quota=STATUS_V4.name,
    submit_endpoint="v4.recognize",
    status_endpoint="v4.operation",
    result_endpoint="v4.result",
    status_not_found=NotFoundMeans.EXPIRED,
    result_not_found=NotFoundMeans.NOT_READY,
    quotas=(SUBMIT_V4, DAILY_AUDIO, STATUS_V4),
    audio_quota=DAILY_AUDIO.name,
    concurrency=ConcurrencyDecl(default=7),
)
APIS = ApiCatalogue((*CATALOGUE.values(), V4))
AUDIO = Path(__file__).resolve().parents[2] / "examples" / "audio" / "greeting-mono.ogg"
MINUTE = AudioFacts("OGG_OPUS", 60.0, 1, 48000, 0, 1000, "ogg_opus")
V4_SETTINGS = dataclasses.replace(RecognitionSettings(), api="v4")


def billable(_job: Job) -> float:
    return 60.0


def test_the_lanes_give_it_its_own_quotas_and_cap() -> None:
    settings = PipelineSettings(
        output_root=Path("/out"),
        apis=APIS,
        quotas=default_quotas(APIS),
        api_concurrency=default_concurrency(APIS),
    )

    def spends(stage: Stage) -> dict[tuple[str, ...] | None, list[str]]:
        found = lanes(stage, list(APIS.values()), settings, billable)
        return {lane.apis: [spend.quota for spend in lane.spends] for lane in found}

    assert spends(Stage.SUBMIT)[("v4",)] == ["submit_v4", "audio"]
    assert spends(Stage.SUBMIT)[("v2", "v3")] == ["submit", "audio"]
    assert spends(Stage.POLL)[("v4",)] == ["status_v4"]
    assert spends(Stage.FETCH)[("v4",)] == ["status_v4"]
    submit = lanes(Stage.SUBMIT, list(APIS.values()), settings, billable)
    assert {lane.apis: lane.cap for lane in submit}[("v4",)] == 7
    assert settings.quota("submit_v4") == QuotaSpec(3, QUOTA_WINDOW_S)


def test_the_config_sets_its_quotas_and_cap_through_the_generic_maps() -> None:
    config = config_from_mapping(
        {
            "storage": {"bucket": "audio"},
            "quotas": {"rates": {"submit_v4": {"limit": 6, "window_s": 600}}},
            "concurrency": {"requests": {"v4": 2}},
        }
    )
    settings = settings_from_config(config, APIS)
    assert settings.quotas["submit_v4"] == QuotaSpec(6, 606.0)
    assert settings.quotas["status_v4"] == per_second(2, 0.0)
    assert settings.api_concurrency == {"asr_xml": 10, "v4": 2}


def test_plan_counts_its_jobs_against_its_quotas() -> None:
    jobs = [JobSpec(f"/audio/{i}.ogg", str(i), V4_SETTINGS, None) for i in range(10)]
    infos = {job.source: Preparation(MINUTE) for job in jobs}
    got = estimate(jobs, infos, plan_windows(None, APIS), APIS)
    assert got.jobs_by_api == {"v2": 0, "v3": 0, "asr_xml": 0, "v4": 10}
    # 10 submissions at 3 per (3600 + 30) s; 25 checks at 2 per 1.25 s.
    assert got.waits_s["submit_v4_wait_s"] == (math.ceil(10 / 3) - 1) * 3630.0
    assert got.waits_s["status_v4_wait_s"] == (math.ceil(25 / 2) - 1) * 1.25
    assert got.waits_s["submit_wait_s"] == 0.0  # v2 and v3's quota is not spent
    assert got.finish_s == 3 * 3630.0 + 10.0  # and the longest file's 10 s of processing
    assert got.to_dict()["submit_v4_wait_s"] == got.waits_s["submit_v4_wait_s"]


def test_a_manifest_may_name_it_and_plan_reads_it(tmp_path: Path) -> None:
    manifest = tmp_path / "v4.yaml"
    jobs = "".join(f"  - audio: {AUDIO}\n    output: o{i}\n" for i in range(4))
    manifest.write_text(f"name: v4\ndefaults:\n  api: v4\njobs:\n{jobs}", "utf-8")
    kept: list[JobSpec] = []
    infos: dict[str, Preparation] = {}

    def keep(job: JobSpec, prepared: Preparation | None) -> None:
        kept.append(job)
        if prepared is not None:
            infos[job.source] = prepared

    found = validate_manifest(manifest, None, keep, APIS)
    assert (found.problems, found.jobs) == ([], 4)
    got = estimate(kept, infos, plan_windows(None, APIS), APIS)
    assert got.jobs_by_api["v4"] == 4
    assert got.waits_s["submit_v4_wait_s"] == 3630.0  # the fourth waits a window
    # Without the fourth API in the catalogue, the same manifest is refused.
    refused = validate_manifest(manifest, None, None, CATALOGUE)
    assert any(p.field == "defaults.api" for p in refused.problems)


def tenth(_api: str, _model: str, audio_s: float) -> float:
    """A tenth of a second of processing per audio second."""
    return 0.1 * audio_s


def test_the_eta_counts_its_jobs_against_its_quotas() -> None:
    jobs = [make_job(i, State.QUEUED, api="v4", audio=MINUTE) for i in range(1, 5)]
    windows = whole_windows(default_quotas(APIS), default_concurrency(APIS))
    work = work_of(jobs, tenth, now=0.0, apis=APIS)
    assert work.to_submit == {"v4": 4}
    assert finish_time(work, windows, APIS).waits_s["submit_v4"] == 3600.0
    manifest = ManifestStatus(1, "m", "/in/m.yaml", "active", 0.0, None, None, {"queued": 4})
    progress = progress_of(manifest, jobs, 0.0, quotas=windows, predict=tenth, apis=APIS)
    assert progress.eta_s == 3600.0 + 6.0


def test_the_status_page_and_the_metrics_name_its_quotas() -> None:
    overview = Overview(
        node="n1",
        started_at=0.0,
        now=10.0,
        jobs={},
        manifests=[],
        quotas=[QuotaUsage("status_v4", 1, 1, 1.25), QuotaUsage("submit_v4", 2, 1, 3630.0)],
        failures=[],
        hooks={},
    )
    page = parse(render_page(overview, apis=APIS))
    rows = {row.attrs["data-quota"]: row for row in page.one(id="quotas").find_all("tr")[1:]}
    assert rows["status_v4"].one("td", class_="name").text == "status checks, API v4 status_v4"
    assert rows["submit_v4"].one("td", class_="limit").text == "3"
    metrics = DaemonMetrics(quotas=APIS.request_quotas())
    # Every 429 series exists from the start, at 0 (the throttled counter's one label).
    throttled = {values for _name, values, _extra, _value in metrics.throttled.samples()}
    assert {("submit_v4",), ("status_v4",)} <= throttled
