"""What PromQL expressions name: metrics, label matchers and the labels they group or print by.

Not a PromQL parser (promtool checks the syntax): enough to hold the names in the dashboard
and the alert rules against what the daemon's ``/metrics`` really has.

    refs = references('sum by (quota) (increase(x_total{quota="submit"}[5m]))')
    refs.metrics      -> {"x_total"}
    refs.matchers     -> [Matcher("x_total", "quota", "=", "submit")]
    refs.labels       -> {"quota"}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PREFIX = "speechkit_orchestrator_"
_SELECTOR = re.compile(rf"(?<![\w:])({PREFIX}[A-Za-z0-9_:]*)\s*(\{{[^}}]*\}})?")
_MATCHER = re.compile(r'([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
# {{state}} in a Grafana legend, {{ $labels.quota }} in an alert's annotation.
_TEMPLATE_LABEL = re.compile(r"\{\{\s*(?:\$labels\.)?([A-Za-z_]\w*)\s*\}\}")
_LABEL_VALUES = re.compile(r"label_values\(\s*([A-Za-z_:][\w:]*)\s*,\s*([A-Za-z_]\w*)\s*\)")


@dataclass(frozen=True)
class Matcher:
    """One label matcher of a selector: ``metric{label op "value"}``."""

    metric: str
    label: str
    op: str
    value: str


@dataclass
class References:
    """The daemon's metrics an expression names, its matchers, and the labels it uses."""

    metrics: set[str] = field(default_factory=set)
    matchers: list[Matcher] = field(default_factory=list)
    labels: set[str] = field(default_factory=set)


def references(expr: str) -> References:
    """What ``expr`` names (only the metrics with the daemon's prefix)."""
    found = References()
    for match in _SELECTOR.finditer(expr):
        metric, braces = match.group(1), match.group(2) or ""
        found.metrics.add(metric)
        for label, op, value in _MATCHER.findall(braces):
            found.matchers.append(Matcher(metric, label, op, value))
    for match in _GROUPING.finditer(expr):
        found.labels.update(name.strip() for name in match.group(1).split(",") if name.strip())
    for metric, label in _LABEL_VALUES.findall(expr):
        found.metrics.add(metric)
        found.labels.add(label)
    return found


def template_labels(text: str) -> set[str]:
    """The labels a legend or an annotation prints (``$value`` and the like are not labels)."""
    return {name for name in _TEMPLATE_LABEL.findall(text) if name != "value"}
