"""bench.multi's nodes: each config and manifest as the daemon itself checks them."""

from __future__ import annotations

from pathlib import Path

from bench.multi import _prepare, options
from bench.services import Services
from bench.workload import generate
from orchestrator.config import load_config
from orchestrator.intake.manifest import validate_manifest
from orchestrator.intake.roots import InputRoots


def test_each_node_takes_its_share_of_the_files_in(tmp_path: Path) -> None:
    workload = generate(tmp_path / "audio", 7, 1.0, 2.0, seed=1)
    services = Services("http://127.0.0.1:9", "http://127.0.0.1:8", "bench")
    opts = options(["--jobs", "7", "--daemons", "3"])
    configs = _prepare(services, workload, opts, tmp_path / "run", "postgresql://db/x", 3)
    found = 0
    for config_path in configs:
        config = load_config(config_path, resolve_secrets=False)
        manifest = config_path.parent / "inbox" / "bench.yaml"
        checked = validate_manifest(manifest, InputRoots.of(config))
        assert checked.problems == [], checked.problems
        found += checked.jobs
    assert found == 7
