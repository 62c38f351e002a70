"""Every metric and label the Grafana dashboard and the alert rules in contrib/ name exists in
the /metrics of a real daemon (the CLI as a subprocess, the emulator, moto's S3 server)
that has done a job and failed one."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import S3Server
from tests.integration.test_contrib import alert_rules, dashboard, dashboard_queries
from tests.support.daemon import DEMO_FILES, emulated_daemon
from tests.support.promql import Matcher, references, template_labels

pytestmark = pytest.mark.e2e

LIMIT_S = 90.0  # guards against a hung daemon, not timing assertions
# Labels Prometheus gives every series it scrapes; "le" is every histogram bucket's.
TARGET_LABELS = {"job", "instance"}
_PLAIN_ALTERNATIVES = r"[\w.-]+(\|[\w.-]+)*"


async def scrape_a_real_daemon(tmp_path: Path, s3: S3Server, bucket: str) -> str:
    """The /metrics text of a daemon that did one job and failed another."""
    async with (
        emulated_daemon(tmp_path / "daemon", s3, bucket) as (_emu, env),
        aiohttp.ClientSession() as http,
    ):
        audio = env.copy_audio(DEMO_FILES[:1])
        (audio / "empty.wav").write_bytes(b"")
        process = await env.start()
        try:
            (ready,) = await env.wait_for_event("daemon.ready", limit_s=LIMIT_S)
            env.put_manifest(
                "two", [{"audio": DEMO_FILES[0]}, {"audio": "empty.wav"}], base_dir=audio
            )
            await env.wait_for_event("manifest.finished", manifest="two", limit_s=LIMIT_S)
            async with http.get(ready["status_address"] + "/metrics") as answer:
                assert answer.status == 200
                return await answer.text()
        finally:
            await env.stop(process)


async def test_every_metric_and_label_of_contrib_is_in_the_real_metrics(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    text = await scrape_a_real_daemon(tmp_path, s3_server, s3_bucket)
    exported = Exported.of(text)
    checked = set()
    for where, expr, printed in contrib_uses():
        refs = references(expr)
        assert refs.metrics or where.startswith("alert SpeechkitOrchestratorDown"), where
        for metric in refs.metrics:
            assert metric in exported.labels, f"{where}: {metric} is not in /metrics"
            checked.add(metric)
        known = TARGET_LABELS.union(*(exported.labels[m] for m in refs.metrics))
        if any(m.endswith("_bucket") for m in refs.metrics):
            known.add("le")
        for label in refs.labels | template_labels(printed):
            assert label in known, f"{where}: no metric of {sorted(refs.metrics)} has {label}"
        check_matchers(where, refs.matchers, exported)
    # And the other way round: everything the daemon exports is shown or alerted on.
    family_of = exported.family_of
    assert set(family_of.values()) == {family_of[metric] for metric in checked}


@dataclass
class Exported:
    """What a /metrics text holds, by sample name."""

    labels: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    values: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    family_of: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, text: str) -> Exported:
        """Each sample's label names, each (sample, label)'s values, each sample's family."""
        exported = cls()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                exported.family_of[sample.name] = family.name
                exported.labels[sample.name].update(sample.labels)
                for label, value in sample.labels.items():
                    exported.values[sample.name, label].add(value)
        return exported


def contrib_uses() -> list[tuple[str, str, str]]:
    """(where, expression, text that prints labels: legends, annotations) of every query
    the dashboard and the alert rules make."""
    uses: list[tuple[str, str, str]] = []
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            uses.append((f"dashboard: {panel['title']}", target["expr"], target["legendFormat"]))
    uses.extend((f"dashboard: {where}", expr, "") for where, expr in dashboard_queries())
    for rule in alert_rules():
        printed = " ".join(rule["annotations"].values())
        uses.append((f"alert {rule['alert']}", rule["expr"], printed))
    return uses


def check_matchers(where: str, matchers: Iterable[Matcher], exported: Exported) -> None:
    """Each label matcher names a label of its metric, and values the daemon exports."""
    for matcher in matchers:
        if matcher.label in TARGET_LABELS:
            continue
        assert matcher.label in exported.labels[matcher.metric], f"{where}: {matcher}"
        seen = exported.values[matcher.metric, matcher.label]
        if matcher.op in {"=", "!="}:
            assert matcher.value in seen, f"{where}: {matcher} matches none of {seen}"
        elif re_plain(matcher.value):
            # A list of values (state!~"done|failed|cancelled"): each one must exist.
            for value in matcher.value.split("|"):
                assert value in seen, f"{where}: {matcher}: {value} is none of {seen}"


def re_plain(pattern: str) -> bool:
    """Whether a regex matcher is a plain list of values joined by ``|``."""
    return re.fullmatch(_PLAIN_ALTERNATIVES, pattern) is not None
