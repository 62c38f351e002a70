"""Which jobs each stage claims together, and what their requests spend."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from orchestrator.core.jobs import Job, Stage, State
from orchestrator.core.quota import AUDIO_QUOTA, SUBMIT_QUOTA
from orchestrator.pipeline.lanes import lanes, without_bucket
from orchestrator.pipeline.settings import SEND_SLACK_S, PipelineSettings, per_second
from orchestrator.speechkit import ASR_XML_SPEC, V2_SPEC, V3_SPEC, asr_xml, v2, v3
from orchestrator.store.types import Affinity

PROFILES = [V2_SPEC, V3_SPEC, ASR_XML_SPEC]
STATUS_QUOTA, V3_STATUS_QUOTA = v2.STATUS_CHECKS.name, v3.STATUS_CHECKS.name
ASR_XML_QUOTA = asr_xml.REQUESTS.name
SETTINGS = PipelineSettings(output_root=Path("/out"), api_concurrency={"asr_xml": 3})


def billable(_job: Job) -> float:
    return 60.0


def quotas_of(stage: Stage) -> dict[tuple[str, ...] | None, list[str]]:
    return {
        lane.apis: [spend.quota for spend in lane.spends]
        for lane in lanes(stage, PROFILES, SETTINGS, billable)
    }


def test_submissions_v2_and_v3_share_a_quota_asr_xml_has_its_own_and_a_cap() -> None:
    assert quotas_of(Stage.SUBMIT) == {
        ("asr_xml",): [ASR_XML_QUOTA],  # not asynchronous recognition: no daily audio
        ("v2", "v3"): [SUBMIT_QUOTA, AUDIO_QUOTA],
    }
    by_apis = {lane.apis: lane for lane in lanes(Stage.SUBMIT, PROFILES, SETTINGS, billable)}
    assert by_apis[("asr_xml",)].cap == 3
    assert by_apis[("v2", "v3")].cap is None
    assert all(lane.enter is State.SUBMITTING for lane in by_apis.values())
    assert by_apis[("asr_xml",)].claim(10, 60.0).cap == 3


def test_status_checks_each_api_its_own_and_nothing_for_a_synchronous_one() -> None:
    assert quotas_of(Stage.POLL) == {("v2",): [STATUS_QUOTA], ("v3",): [V3_STATUS_QUOTA]}


def test_fetching_costs_a_request_only_where_the_api_says_so() -> None:
    assert quotas_of(Stage.FETCH) == {("asr_xml", "v2"): [], ("v3",): [V3_STATUS_QUOTA]}


def test_uploads_take_every_api() -> None:
    assert quotas_of(Stage.UPLOAD) == {None: []}


def test_per_second_quotas_keep_their_margin_in_time() -> None:
    spec = per_second(5.0, 0.02)
    assert spec.effective_limit == 5
    assert spec.window_s == (1.0 + SEND_SLACK_S) * 1.02 / 0.98
    slow = per_second(0.5, 0.0)
    assert (slow.limit, slow.window_s) == (1, 2.0 + SEND_SLACK_S)


def test_results_written_to_a_disk_are_fetched_by_the_node_of_that_disk() -> None:
    def affinities(**changes: object) -> set[object]:
        settings = dataclasses.replace(SETTINGS, node="rec-01", **changes)  # type: ignore[arg-type]
        return {lane.affinity for lane in lanes(Stage.FETCH, PROFILES, settings, billable)}

    mine = Affinity("rec-01", every_job=True)
    assert affinities() == {mine}
    assert affinities(outputs_prefix="t/", outputs_local=False) == {None}  # objects: anyone
    assert affinities(outputs_prefix="t/", outputs_local=True) == {mine}  # files first


def apis_without_bucket(stage: Stage, settings: PipelineSettings = SETTINGS) -> list[object]:
    found = lanes(stage, PROFILES, settings, billable)
    return [lane.apis for lane in without_bucket(stage, found, PROFILES, settings)]


def test_without_the_bucket_only_what_needs_no_bucket_goes_on() -> None:
    # Uploads and submissions of the APIs the service reads from the bucket wait; the
    # API that takes the audio in its request goes on, with its lane as it was.
    assert apis_without_bucket(Stage.UPLOAD) == [("asr_xml",)]
    assert apis_without_bucket(Stage.SUBMIT) == [("asr_xml",)]
    (upload,) = without_bucket(
        Stage.UPLOAD, lanes(Stage.UPLOAD, PROFILES, SETTINGS, billable), PROFILES, SETTINGS
    )
    assert upload.affinity == Affinity(SETTINGS.node)
    # Checks need no bucket; results written to disk neither, to objects they do.
    assert apis_without_bucket(Stage.POLL) == [("v2",), ("v3",)]
    assert apis_without_bucket(Stage.FETCH) == [("v3",), ("asr_xml", "v2")]
    to_objects = dataclasses.replace(SETTINGS, outputs_prefix="results")
    assert apis_without_bucket(Stage.FETCH, to_objects) == []
    # With no API that can go on, a stage waits whole.
    only_async = [V2_SPEC, V3_SPEC]
    found = lanes(Stage.UPLOAD, only_async, SETTINGS, billable)
    assert without_bucket(Stage.UPLOAD, found, only_async, SETTINGS) == []
