"""The schema is the one place a config key is declared: the loader reads every key it
declares, the reference's table is written from it, the example shows every key with its
default, and the pipeline's defaults are the config's. A key added to the schema alone
fails one of these checks, named by its ``section.key`` and the place that lacks it."""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

from orchestrator.config import Config, QuotasConfig, config_from_mapping, load_config
from orchestrator.config.docs import REFERENCE, key_cell, table, with_table
from orchestrator.config.fields import (
    Setting,
    default_of,
    section,
    sections,
    setting,
    settings,
    yaml_keys,
)
from orchestrator.emulator.iam import Iam
from orchestrator.pipeline.settings import PipelineSettings, settings_from_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.yaml"
SECRET_ENV = {
    "SAMPLE_SECRET": "sample-secret-value-1",
    "OTHER_SECRET": "sample-secret-value-2",
    # What `yc iam key create` writes, for a key of the emulator's.
    "AUTHORIZED_KEY": json.dumps(Iam(60.0).authorized_key()),
}
PG = "postgresql://orchestrator@db.example.internal/speechkit"
PAIR = {"access_key_id_env": "SAMPLE_SECRET", "secret_access_key_env": "OTHER_SECRET"}
WEBHOOKS = ["https://ci.example/hooks/"]
# Keys the generic samples cannot set alone: the section without the key, and with it.
SPECIAL: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "storage.bucket": ({}, {"bucket": "another-bucket"}),
    "speechkit.authorized_key": ({}, {"authorized_key_env": "AUTHORIZED_KEY"}),
    "storage.access_key_id": ({}, PAIR),
    "storage.secret_access_key": ({}, PAIR),
    "paths.input_roots": ({}, {"input_roots": ["/"]}),
    "storage.source_buckets": ({}, {"source_buckets": ["archive/calls"]}),
    "intake.max_priority": ({}, {"max_priority": 10}),
    "audio.max_part_s": ({}, {"max_part_s": 600.0}),
    "polling.growth": ({}, {"growth": 2.0}),
    "quotas.rates": ({}, {"rates": {"submit": {"limit": 100, "window_s": 60}}}),
    "concurrency.requests": ({}, {"requests": {"asr_xml": 3}}),
    "state.url": ({}, {"url": PG}),
    "state.password": ({"url": PG}, {"url": PG, "password_env": "SAMPLE_SECRET"}),
    "outputs.local": ({"s3_prefix": "t/"}, {"s3_prefix": "t/", "local": True}),
    "hooks.on_finish": ({}, {"command": ["/bin/true"]}),
    "hooks.manifest_commands": ({}, {"manifest_commands": ["/bin/true"]}),
    "hooks.manifest_webhooks": (
        {"secret_env": "OTHER_SECRET"},
        {"secret_env": "OTHER_SECRET", "manifest_webhooks": WEBHOOKS},
    ),
}


def every_key(config_cls: type[Any] = Config) -> list[tuple[str, dataclasses.Field[Any], Setting]]:
    """Every key of the schema, with its section's name."""
    return [
        (name, f, meta)
        for name, info in sections(config_cls).items()
        for f, meta in settings(info.cls)
    ]


KEYS = every_key()
IDS = [f"{name}.{f.name}" for name, f, _meta in KEYS]


def example_blocks(text: str) -> dict[str, str]:
    """The example's text of each section, commented-out sections included."""
    blocks: dict[str, str] = {}
    current = ""
    for line in text.splitlines():
        heading = re.match(r"^(?:# )?([a-z_]+):\s*(?:#.*)?$", line)
        if heading:
            current = heading.group(1)
        blocks[current] = blocks.get(current, "") + line + "\n"
    return blocks


def lacking_in_example(text: str, config_cls: type[Any] = Config) -> list[str]:
    """``section.key`` of every key the example shows nowhere (as a line, maybe commented)."""
    blocks = example_blocks(text)
    lacking = []
    for name, f, meta in every_key(config_cls):
        block = blocks.get(name, "")
        shown = [k for k in yaml_keys(f, meta) if re.search(rf"^[#\s]+{k}:", block, re.M)]
        if not shown or (not meta.secret and len(shown) < len(yaml_keys(f, meta))):
            lacking.append(f"{name}.{f.name}")
    return lacking


@pytest.mark.parametrize(("name", "f", "meta"), KEYS, ids=IDS)
def test_the_example_shows_every_key(name: str, f: dataclasses.Field[Any], meta: Setting) -> None:
    lacking = lacking_in_example(EXAMPLE.read_text("utf-8"))
    assert f"{name}.{f.name}" not in lacking, f"config.example.yaml lacks {name}.{f.name}"


@pytest.mark.parametrize("name", list(sections(Config)))
def test_the_example_shows_every_default(name: str) -> None:
    env = {"SPEECHKIT_API_KEY": "example-api-key-1", "S3_ACCESS_KEY_ID": "example-key-id"}
    example = load_config(EXAMPLE, env={**env, "S3_SECRET_ACCESS_KEY": "example-secret"})
    defaults = config_from_mapping({"storage": {"bucket": "my-speechkit-audio"}}, base_dir=ROOT)
    for f, meta in settings(sections(Config)[name].cls):
        if meta.secret:
            continue
        shown, default = getattr(getattr(example, name), f.name), getattr(defaults, name)
        assert shown == getattr(default, f.name), (
            f"config.example.yaml: {name}.{f.name} is {shown!r}, the schema's default is "
            f"{getattr(default, f.name)!r}"
        )


def test_the_reference_table_is_written_from_the_schema() -> None:
    text = REFERENCE.read_text("utf-8")
    # The keys whose line (name, default, words) the table lacks.
    lacking = [f"{n}.{f.name}" for n, f, m in KEYS if key_cell(f, m) not in text]
    assert with_table(text) == text, (
        f"docs/reference.md's table of config keys is out of date (lacks {lacking}): "
        "run python -m orchestrator.config.docs"
    )


def sample(hint: Any, default: Any, key: str) -> Any:
    """A value other than the default that the key's type allows (generic cases only)."""
    if typing.get_origin(hint) is Literal:
        return next(choice for choice in typing.get_args(hint) if choice != default)
    if isinstance(hint, types.UnionType):
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if hint is bool:
        return not default
    if hint is int:
        return (default or 2) + 1
    if hint is float:
        return default / 2 if default else 0.25
    if hint is str:
        return "http://127.0.0.1:9/" if "url" in key else f"{default or 'sample'}x"
    if hint is Path:
        return f"{default}2"
    raise LookupError(f"no sample value for {key}: add one to SPECIAL")


def sample_section(
    name: str, f: dataclasses.Field[Any], meta: Setting
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The section without the key, and with it set to a value other than its default."""
    key = f"{name}.{f.name}"
    if key in SPECIAL:
        return SPECIAL[key]
    if meta.secret:
        return {}, {f"{f.name}_env": "SAMPLE_SECRET"}
    hint = typing.get_type_hints(sections(Config)[name].cls)[f.name]
    return {}, {yaml_keys(f, meta)[0]: sample(hint, default_of(f), key)}


def load(name: str, values: dict[str, Any], tmp_path: Path) -> Config:
    mapping: dict[str, Any] = {"storage": {"bucket": "audio"}}
    mapping[name] = {**mapping.get(name, {}), **values}
    return config_from_mapping(mapping, base_dir=tmp_path, env=SECRET_ENV)


@pytest.mark.parametrize(("name", "f", "meta"), KEYS, ids=IDS)
def test_the_loader_reads_every_key(
    name: str, f: dataclasses.Field[Any], meta: Setting, tmp_path: Path
) -> None:
    without, with_key = sample_section(name, f, meta)
    before = getattr(getattr(load(name, without, tmp_path), name), f.name)
    after = getattr(getattr(load(name, with_key, tmp_path), name), f.name)
    assert after != before, f"config/sections.py does not read {name}.{f.name}"


def test_pipeline_settings_built_in_code_start_from_the_config_defaults(tmp_path: Path) -> None:
    config = config_from_mapping({"storage": {"bucket": "audio"}}, base_dir=tmp_path)
    loaded, in_code = settings_from_config(config), PipelineSettings(output_root=tmp_path)
    # The quotas in code have no margin for the requests' latency; roots and the
    # conversions' directory are the file's.
    differ = {"output_root", "quotas", "input_roots", "conversions_path"}
    for f in dataclasses.fields(PipelineSettings):
        if f.name not in differ:
            assert getattr(in_code, f.name) == getattr(loaded, f.name), f.name
    assert in_code.quotas.keys() == loaded.quotas.keys()
    for name, spec in in_code.quotas.items():
        assert spec.limit == loaded.quotas[name].limit, name


@dataclass(frozen=True)
class MoreQuotas(QuotasConfig):
    """The quotas with one key more, declared in the schema alone."""

    burst: int = setting(3, "requests at once")


@dataclass(frozen=True)
class MoreConfig(Config):
    """A schema whose quotas have a key nothing else knows."""

    quotas: MoreQuotas = section(MoreQuotas)


def test_a_key_declared_in_the_schema_alone_is_named_where_it_is_missing() -> None:
    assert lacking_in_example(EXAMPLE.read_text("utf-8"), MoreConfig) == ["quotas.burst"]
    assert "`burst` (3; requests at once)" in table(MoreConfig)
    assert with_table(REFERENCE.read_text("utf-8"), MoreConfig) != REFERENCE.read_text("utf-8")
