"""The output choices of a manifest section (``defaults:`` or a job entry): ``outputs``
(the formats to write) and ``channel_names``, read and checked against the section's
recognition settings; every problem recorded where it is written."""

from __future__ import annotations

import dataclasses

import yaml

from orchestrator.config.yamlload import Reader, Section, join_path
from orchestrator.core.apis import ApiCatalogue
from orchestrator.core.output_options import (
    DATASET,
    FORMATS,
    MANIFEST_OUTPUTS,
    TIMED_FORMATS,
    OutputOptions,
    channel_name_problem,
)
from orchestrator.core.settings import RecognitionSettings
from orchestrator.intake.settings import MAX_CHANNELS

OUTPUT_KEYS = ("outputs", "channel_names")
# What ``outputs:`` may list: the job's formats, and what the manifest writes of them all.
CHOICES = (*FORMATS, *MANIFEST_OUTPUTS)


def read_output_options(
    r: Reader,
    sec: Section,
    base: OutputOptions,
    settings: RecognitionSettings,
    apis: ApiCatalogue,
) -> OutputOptions:
    """``base`` with the output keys present in ``sec`` applied, checked against
    ``settings`` (this section's, its defaults merged in) and its API in ``apis``."""
    changes: dict[str, object] = {}
    if "outputs" in sec:
        formats = _formats(r, sec)
        if formats is not None:
            changes["formats"] = formats
    if "channel_names" in sec:
        names = _channel_names(r, sec)
        if names is not None:
            changes["channel_names"] = names
    options = dataclasses.replace(base, **changes)  # type: ignore[arg-type]
    _check(r, sec, options, settings, changes, apis)
    return options


def _items(r: Reader, node: yaml.Node, field: str) -> list[tuple[yaml.Node, str, str]] | None:
    """The strings of a list (or of one string standing for a list of one), each with its
    node and field; None when the value is not a list of strings."""
    nodes = [node] if isinstance(node, yaml.ScalarNode) else r.sequence(node, field)
    if nodes is None:
        return None
    found = []
    for index, item in enumerate(nodes):
        where = field if item is node else join_path(field, index)
        text = r.string(item, where)
        if text is None:
            return None
        found.append((item, where, text))
    return found


def _formats(r: Reader, sec: Section) -> tuple[str, ...] | None:
    """``outputs:``: formats from ``FORMATS`` (and ``dataset``), none twice, at least one."""
    node, field = sec.node_of("outputs"), sec.field("outputs")
    if node is None or r.is_null(node):
        r.problem(node, field, f"must not be null: give some of {', '.join(FORMATS)}")
        return None
    items = _items(r, node, field)
    if not items:
        if items is not None:
            r.problem(node, field, f"an empty list: give at least one of {', '.join(FORMATS)}")
        return None
    formats: list[str] = []
    for item, where, _text in items:
        chosen = r.choice(item, where, CHOICES)
        if chosen is None:
            return None
        if chosen in formats:
            r.problem(item, where, f"{chosen} is listed twice")
            return None
        formats.append(chosen)
    if DATASET in formats and "json" not in formats:
        # The dataset is read from the jobs' JSON outputs, once the manifest finishes.
        r.problem(node, field, "dataset is made from the jobs' json outputs: list json too")
    return tuple(formats)


def _channel_names(r: Reader, sec: Section) -> tuple[str, ...] | None:
    """``channel_names:``: names safe in a file name, one per channel, none twice (in any
    case: some filesystems do not tell ``Agent`` from ``agent``); null or [] for none."""
    node, field = sec.node_of("channel_names"), sec.field("channel_names")
    if node is None or r.is_null(node):
        return ()
    items = _items(r, node, field)
    if items is None:
        return None
    if len(items) > MAX_CHANNELS:
        r.problem(node, field, f"{len(items)} names; audio has at most {MAX_CHANNELS} channels")
        return None
    names: list[str] = []
    for item, where, name in items:
        problem = channel_name_problem(name)
        if problem is not None:
            r.problem(item, where, problem)
            return None
        if name.casefold() in (n.casefold() for n in names):
            r.problem(item, where, f"{name!r} is listed twice (names are compared ignoring case)")
            return None
        names.append(name)
    return tuple(names)


def _check(
    r: Reader,
    sec: Section,
    options: OutputOptions,
    settings: RecognitionSettings,
    changes: dict[str, object],
    apis: ApiCatalogue,
) -> None:
    """What the section's settings rule out: a name for each declared channel, and no
    timed format from an API without timings. Reported where this section sets the
    option, or else where it sets the setting that conflicts with the defaults' option."""
    named = len(options.channel_names)
    if named and settings.channels is not None and settings.channels > named:
        message = (
            f"{named} channel names for {settings.channels} declared channels: "
            "give a name for each channel"
        )
        if "channel_names" in changes:
            r.problem(sec.node_of("channel_names"), sec.field("channel_names"), message)
        elif "channels" in sec:
            r.problem(sec.node_of("channels"), sec.field("channels"), message)
    facts = apis[settings.api]
    timed = [f for f in options.formats if f in TIMED_FORMATS]
    if timed and not facts.timings:
        timing = " or ".join(apis.names_where(True, "timings"))
        message = (
            f"{', '.join(timed)} {'needs' if len(timed) == 1 else 'need'} word times, which "
            f"{facts.title} does not give; "
            f"choose among json and txt, or use api {timing}"
        )
        if "formats" in changes:
            r.problem(sec.node_of("outputs"), sec.field("outputs"), message)
        elif "api" in sec and options.formats != OutputOptions().formats:
            r.problem(
                sec.node_of("api"), sec.field("api"), f"{message} (outputs comes from defaults)"
            )
