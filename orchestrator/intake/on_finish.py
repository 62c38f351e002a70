"""A manifest's ``on_finish:`` (its own completion hooks), and whether the daemon's config
lets it ask for them (``core.hooks`` says why a manifest may not ask for anything)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.config.hooks import read_on_finish
from orchestrator.config.yamlload import Section
from orchestrator.core.errors import Problem
from orchestrator.core.hooks import HookPolicy, OnFinish

ON_FINISH_KEYS = ("command", "webhook")


@dataclass(frozen=True)
class ManifestHooks:
    """A manifest's ``on_finish:``, with the line of each hook for the messages about it."""

    spec: OnFinish
    lines: dict[str, int | None] = field(default_factory=dict)


def read_manifest_hooks(top: Section) -> ManifestHooks | None:
    """The ``on_finish:`` section of a manifest's top level, or None when absent."""
    sec = top.section("on_finish", ON_FINISH_KEYS)
    if sec.node is None:
        return None
    sec.reject_unknown()
    spec = read_on_finish(sec)
    if spec is None:
        return None
    return ManifestHooks(spec, {key: sec.line_of(key) for key in ON_FINISH_KEYS})


def refusals(path: Path, hooks: ManifestHooks | None, policy: HookPolicy) -> list[Problem]:
    """Each hook of the manifest that the config does not allow, as a problem at its line."""
    if hooks is None:
        return []
    return [
        Problem(str(path), refusal, line=hooks.lines.get(hook.kind), field=f"on_finish.{hook.kind}")
        for hook in hooks.spec.hooks("manifest")
        if (refusal := policy.refusal(hook)) is not None
    ]
