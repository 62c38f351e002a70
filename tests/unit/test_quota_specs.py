"""The quota specs derived from the catalogue and the config (pipeline/settings.py): the
figures the daemon schedules by, the same as ``plan`` counts with, from today's keys or
from the generic ``quotas.rates`` map; and the concurrency caps likewise."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.commands.plan import plan_quotas, plan_windows
from orchestrator.config import Config, config_from_mapping
from orchestrator.core.errors import UserInputError
from orchestrator.core.finish_time import Window
from orchestrator.core.quota import QuotaSpec
from orchestrator.pipeline.settings import (
    PipelineSettings,
    default_concurrency,
    default_quotas,
    per_second,
    settings_from_config,
)
from orchestrator.speechkit import CATALOGUE
from orchestrator.speechkit.quotas import DAY_S


def config(**sections: Any) -> Config:
    return config_from_mapping({"storage": {"bucket": "audio"}, **sections})


CONFIGS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "margins": {
        "quotas": {"safety_margin": 0.02, "window_s": 60, "window_margin_s": 6},
        "speechkit": {"request_timeout_s": 10},
    },
    "every key": {
        "quotas": {
            "submissions": 40,
            "status_checks": 90,
            "audio_hours_per_day": 2.5,
            "v3_status_checks_per_second": 2,
            "asr_xml_requests_per_second": 0.5,
            "safety_margin": 0.1,
        },
        "concurrency": {"asr_xml_requests": 3},
    },
    "rates": {"quotas": {"rates": {"status_v3": {"limit": 10, "window_s": 4}}}},
}


@pytest.mark.parametrize("sections", CONFIGS.values(), ids=list(CONFIGS))
def test_plan_counts_with_the_daemons_quota_specs(sections: dict[str, Any]) -> None:
    loaded = config(**sections)
    daemon = settings_from_config(loaded)
    assert plan_quotas(loaded) == daemon.quotas
    windows = plan_windows(loaded)
    assert windows.windows == {
        name: Window(spec.effective_limit, spec.window_s) for name, spec in daemon.quotas.items()
    }
    assert windows.concurrency == daemon.api_concurrency
    # Every quota any API spends, and no other.
    assert list(daemon.quotas) == list(CATALOGUE.quotas())


def test_without_a_config_plan_counts_the_default_configs_figures() -> None:
    assert plan_quotas(None) == settings_from_config(config()).quotas


def test_todays_keys_give_todays_figures() -> None:
    quotas = settings_from_config(config(**CONFIGS["margins"])).quotas
    window = 60 + 6
    assert quotas["submit"] == QuotaSpec(500, window, margin=0.02)
    assert quotas["status"] == QuotaSpec(2500, window, margin=0.02)
    assert quotas["status_v3"] == per_second(5, 0.02)
    assert quotas["asr_xml"] == per_second(20, 0.02)
    assert quotas["audio"] == QuotaSpec(10_000 * 3600, DAY_S * (window / 60), margin=0.02)
    every = settings_from_config(config(**CONFIGS["every key"]))
    assert every.quotas["submit"] == QuotaSpec(40, 3630.0, margin=0.1)
    assert every.quotas["status"] == QuotaSpec(90, 3630.0, margin=0.1)
    assert every.quotas["status_v3"] == per_second(2, 0.1)
    assert every.quotas["asr_xml"] == per_second(0.5, 0.1)
    assert every.quotas["audio"] == QuotaSpec(9000, DAY_S * (3630 / 3600), margin=0.1)
    assert every.api_concurrency == {"asr_xml": 3}


def test_the_defaults_in_code_are_the_documented_quotas() -> None:
    quotas = default_quotas()
    assert quotas == {
        "submit": QuotaSpec(500, 3600.0),
        "status": QuotaSpec(2500, 3600.0),
        "status_v3": per_second(5, 0.0),
        "asr_xml": per_second(20, 0.0),
        "audio": QuotaSpec(10_000 * 3600, DAY_S),
    }
    # In the order the status page and /status list them.
    assert list(quotas) == ["submit", "status", "status_v3", "asr_xml", "audio"]
    assert default_concurrency() == {"asr_xml": 10}
    assert PipelineSettings(output_root=config().paths.output).api_concurrency == {"asr_xml": 10}


def test_the_generic_map_sets_any_quota_and_wins_over_its_key() -> None:
    loaded = config(
        quotas={
            "v3_status_checks_per_second": 2,
            "rates": {
                "status_v3": {"limit": 10, "window_s": 4},
                "submit": {"limit": 100, "window_s": 600},
                "audio": {"limit": 7200, "window_s": 43200},
            },
        },
        concurrency={"asr_xml_requests": 3, "requests": {"asr_xml": 5, "v3": 50}},
    )
    settings = settings_from_config(loaded)
    assert settings.quotas["status_v3"] == per_second(2.5, 0.0)
    # Its own window, lengthened by the default margin: 1% of it, the timeout at most.
    assert settings.quotas["submit"] == QuotaSpec(100, 606.0)
    assert settings.quotas["audio"] == QuotaSpec(7200, 43200 * (3630 / 3600))
    assert settings.quotas["status"] == QuotaSpec(2500, 3630.0)
    assert settings.api_concurrency == {"v3": 50, "asr_xml": 5}


def test_the_generic_maps_name_only_what_the_catalogue_has() -> None:
    loaded = config(quotas={"rates": {"stauts": {"limit": 1, "window_s": 1}}})
    with pytest.raises(UserInputError) as caught:
        settings_from_config(loaded)
    (problem,) = caught.value.problems
    assert problem.field == "quotas.rates.stauts"
    assert problem.line is not None
    assert "unknown name stauts; known: submit, status, status_v3, asr_xml, audio" in str(problem)
    with pytest.raises(UserInputError) as caught:
        settings_from_config(config(concurrency={"requests": {"v4": 2}}))
    (problem,) = caught.value.problems
    assert problem.field == "concurrency.requests.v4"


def test_a_rate_needs_its_limit_and_window() -> None:
    with pytest.raises(UserInputError) as caught:
        config(quotas={"rates": {"status": {"limit": 0}}})
    messages = sorted(str(p) for p in caught.value.problems)
    assert any("quotas.rates.status.limit: must be at least 1" in m for m in messages)
    assert any("quotas.rates.status.window_s: is required" in m for m in messages)
