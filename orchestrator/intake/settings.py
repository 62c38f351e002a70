"""The recognition settings of a manifest section (``defaults:`` or a job entry), read and
checked against the job's API; every problem recorded where the setting is written."""

from __future__ import annotations

import dataclasses

import yaml

from orchestrator.config.yamlload import Reader, Section, join_path
from orchestrator.core import constants as c
from orchestrator.core.apis import ApiCatalogue, setting_problems
from orchestrator.core.languages import read_language
from orchestrator.core.settings import (
    CONVERT_MODES,
    MAX_PRIORITY,
    MIN_PRIORITY,
    SPLIT_MODES,
    Language,
    RecognitionSettings,
)

SETTING_KEYS = (
    "language",
    "model",
    "profanity_filter",
    "literature_text",
    "raw_results",
    "encoding",
    "sample_rate",
    "channels",
    "api",
    "priority",
    "speaker_labeling",
    "text_normalization",
    "convert",
    "split",
)
MAX_CHANNELS = 8


def read_settings(
    r: Reader,
    sec: Section,
    base: RecognitionSettings,
    apis: ApiCatalogue,
    max_priority: int = MAX_PRIORITY,
) -> RecognitionSettings:
    """``base`` with the setting keys present in ``sec`` applied, checked against the
    job's API in ``apis`` (where this section sets the setting or the API), and the
    priority against ``max_priority`` (the daemon's ``intake.max_priority``)."""
    changes: dict[str, object] = {}
    if "language" in sec:
        language = _language(r, sec)
        if language is not None:
            changes["language"] = language
    if "model" in sec:
        changes["model"] = _model(r, sec, base, apis)
    for key in ("profanity_filter", "literature_text", "raw_results", "speaker_labeling"):
        if key in sec:
            changes[key] = sec.boolean(key, getattr(base, key))
    changes.update(_nullable(r, sec, base))
    if "channels" in sec:
        changes["channels"] = sec.optional_integer("channels", minimum=1, maximum=MAX_CHANNELS)
    if "api" in sec:
        changes["api"] = sec.choice("api", base.api, tuple(apis))
    if "convert" in sec:
        changes["convert"] = sec.choice("convert", base.convert, CONVERT_MODES)
    if "split" in sec:
        changes["split"] = sec.choice("split", base.split, SPLIT_MODES)
    if "priority" in sec:
        changes["priority"] = _priority(r, sec, base.priority, max_priority)
    result = dataclasses.replace(base, **changes)  # type: ignore[arg-type]
    _check_api(r, sec, result, changes, apis)
    return result


def _model(r: Reader, sec: Section, base: RecognitionSettings, apis: ApiCatalogue) -> str:
    """``model:``: any API's model here (which API takes which is checked once the API is
    known); a name no API has is refused listing the models of the job's API only."""
    node = sec.node_of("model")
    if not isinstance(node, yaml.ScalarNode) or node.value in apis.models():
        return sec.choice("model", base.model, apis.models())
    # Read without a problem of its own: ``api:`` is checked where it is read.
    api_node = sec.node_of("api")
    api = api_node.value if isinstance(api_node, yaml.ScalarNode) else base.api
    spec = apis.get(api) or apis[base.api]
    return sec.choice("model", base.model, spec.models)


def _priority(r: Reader, sec: Section, default: int, cap: int) -> int:
    """``priority:`` within the fixed bounds, and at most what the daemon allows."""
    value = sec.integer("priority", default, minimum=MIN_PRIORITY, maximum=MAX_PRIORITY)
    if value > cap:
        r.problem(
            sec.node_of("priority"),
            sec.field("priority"),
            f"at most {cap} here (intake.max_priority in the daemon's config), got {value}",
        )
        return default
    return value


def _nullable(r: Reader, sec: Section, base: RecognitionSettings) -> dict[str, object]:
    """The settings that a null sets back to their default (``text_normalization``,
    ``encoding``, ``sample_rate``), for those present in ``sec``."""
    changes: dict[str, object] = {}
    if "text_normalization" in sec:
        node = sec.node_of("text_normalization")
        if node is not None and r.is_null(node):
            changes["text_normalization"] = None  # back to: as literature_text
        elif node is not None:
            changes["text_normalization"] = r.boolean(node, sec.field("text_normalization"))
    if "encoding" in sec:
        node = sec.node_of("encoding")
        if node is not None and r.is_null(node):
            changes["encoding"] = None
        elif node is not None:
            changes["encoding"] = r.choice(node, sec.field("encoding"), c.ENCODINGS)
    if "sample_rate" in sec:
        node = sec.node_of("sample_rate")
        if node is not None and not r.is_null(node):
            rate = r.choice(node, sec.field("sample_rate"), c.LPCM_SAMPLE_RATES)
            changes["sample_rate"] = rate if rate is not None else base.sample_rate
        else:
            changes["sample_rate"] = None
    return changes


def _language(r: Reader, sec: Section) -> Language | None:
    """``language:``: a code, ``auto``, or a list of codes (None when invalid)."""
    node = sec.node_of("language")
    field = sec.field("language")
    if node is None or r.is_null(node):
        r.problem(node, field, "must not be null")
        return None
    if isinstance(node, yaml.SequenceNode):
        codes: list[str] = []
        for index, item in enumerate(node.value):
            code = _language_code(r, item, join_path(field, index))
            if code is not None:
                if code in codes:
                    r.problem(item, join_path(field, index), f"{code} is listed twice")
                codes.append(code)
        if not node.value:
            r.problem(node, field, "an empty list: give at least one code, or auto")
        ok = len(codes) == len(node.value) and len(set(codes)) == len(codes) and codes
        return tuple(codes) if ok else None
    text = r.string(node, field)
    if text == c.AUTO_LANGUAGE:
        return text
    return None if text is None else _language_code(r, node, field, text)


def _language_code(r: Reader, node: yaml.Node, field: str, text: str | None = None) -> str | None:
    """The language code at ``node`` in the service's case (``RU-ru`` is ``ru-RU``);
    None, with the problem recorded, when it is not a string or no model lists it."""
    if text is None:
        text = r.string(node, field)
        if text is None:
            return None
    read = read_language(text)
    if read.problem is not None:
        r.problem(node, field, read.problem)
    return read.code


def _check_api(
    r: Reader,
    sec: Section,
    settings: RecognitionSettings,
    changes: dict[str, object],
    apis: ApiCatalogue,
) -> None:
    """Each setting the job's API cannot honour, reported where this section sets it,
    or at this section's ``api:`` when the setting came from the defaults."""
    for setting, message in setting_problems(settings, apis):
        if setting in changes:
            r.problem(sec.node_of(setting), sec.field(setting), message)
        elif "api" in changes:
            r.problem(
                sec.node_of("api"),
                sec.field("api"),
                f"{message} ({setting} comes from defaults: set it on this entry)",
            )
