"""What a reload applies at once and what waits for a restart (decided apart from the
signal handling, which the service's end-to-end tests drive)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.config import Config, config_from_mapping
from orchestrator.pipeline.settings import settings_from_config
from orchestrator.service.control import reloaded_settings, restart_needed


def config(tmp_path: Path, **sections: Any) -> Config:
    return config_from_mapping(
        {"storage": {"bucket": "audio"}, **sections}, base_dir=tmp_path, env={}
    )


def test_only_what_a_restart_takes_is_named(tmp_path: Path) -> None:
    old = config(tmp_path)
    assert restart_needed(old, config(tmp_path)) == []
    # The results' lifetime is taken at once; the bucket and the node wait for a restart.
    ttl = config(tmp_path, speechkit={"results_ttl_s": 3600})
    assert restart_needed(old, ttl) == []
    moved = config(
        tmp_path,
        storage={"bucket": "other"},
        service={"node": "elsewhere"},
        outputs={"local": False, "s3_prefix": "t/"},
    )
    assert restart_needed(old, moved) == ["storage", "service.node", "outputs"]


def test_the_node_and_where_results_go_stay_until_a_restart(tmp_path: Path) -> None:
    running = settings_from_config(config(tmp_path, service={"node": "here"}))
    new = config(
        tmp_path,
        service={"node": "elsewhere"},
        outputs={"local": False, "s3_prefix": "t/"},
        concurrency={"uploads": 7},
    )
    applied = reloaded_settings(new, running)
    assert (applied.node, applied.outputs_prefix, applied.outputs_local) == ("here", None, True)
    assert applied.uploads == 7
