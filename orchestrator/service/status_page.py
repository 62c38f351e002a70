"""The status page (``/``): the overview as one HTML page, a pure function of it.

Plain HTML and a little inline CSS; no script at all (it reloads itself with a
``<meta http-equiv="refresh">``) and nothing fetched from elsewhere. Manifest names, file
names and failure reasons come from users, so every value reaches the page through
``_h``, which escapes whatever is not already ``Html``: nothing can be left out by
forgetting to call an escape function.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from orchestrator.core.apis import ApiCatalogue, QuotaDecl
from orchestrator.core.jobs import TERMINAL, ManifestStatus, State, reason_beside
from orchestrator.core.quota import QuotaUsage
from orchestrator.core.runs import run_labels
from orchestrator.service.overview import FailedJob, Overview
from orchestrator.service.progress import eta_seconds
from orchestrator.speechkit.catalogue import CATALOGUE

REFRESH_S = 5
# Finished manifests shown under the active ones (the newest); /status has them all.
FINISHED_SHOWN = 10
# The parts of a manifest's bar, in order: ended well, failed, cancelled, under way.
_SEGMENTS = (("done", "done"), ("failed", "failed"), ("cancelled", "cancelled"))


class Html(str):
    """Text that is already HTML: ``_h`` puts it in as it is."""

    __slots__ = ()


def _h(template: str, /, **values: object) -> Html:
    """``template`` (a literal of this module) with ``values`` filled in, each escaped
    unless it is ``Html`` (so the template names no format spec: values arrive as text)."""
    return Html(
        template.format(
            **{
                name: value if isinstance(value, Html) else html.escape(str(value), quote=True)
                for name, value in values.items()
            }
        )
    )


def _join(parts: Iterable[Html]) -> Html:
    return Html("".join(parts))


def _utc(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: float | None) -> str:
    """A span of time for a person: ``45 s``, ``12 min``, ``3 h 05 min``, ``2 d 04 h``."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 120:
        return f"{whole} s"
    minutes = whole // 60
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours:02d} h"


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _percent(part: float, whole: float) -> float:
    return 0.0 if whole <= 0 else min(100.0, max(0.0, 100.0 * part / whole))


def _bar(segments: Iterable[tuple[str, float]], label: str) -> Html:
    """A bar of ``(css class, percent)`` segments, with the numbers in words for readers
    that do not see it."""
    spans = _join(
        _h('<span class="seg {cls}" style="width:{width}%"></span>', cls=cls, width=f"{width:.2f}")
        for cls, width in segments
        if width > 0
    )
    return _h(
        '<div class="bar" role="img" aria-label="{label}">{spans}</div>', label=label, spans=spans
    )


def _manifest_row(manifest: ManifestStatus, now: float, label_of: dict[int, str]) -> Html:
    counts, total = manifest.counts, manifest.total
    under_way = sum(n for state, n in counts.items() if state not in {s.value for s in TERMINAL})
    queued = counts.get(State.QUEUED.value, 0)
    segments = [(cls, _percent(counts.get(state, 0), total)) for state, cls in _SEGMENTS]
    segments.append(("active", _percent(under_way - queued, total)))
    done, failed = counts.get("done", 0), counts.get("failed", 0)
    progress = _percent(manifest.ended, total) if total else 100.0
    label = f"{done} done, {failed} failed of {total}"
    states = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    return _h(
        '<tr data-manifest="{name}" data-state="{state}">'
        '<td class="name">{shown}</td><td class="state">{state}</td>'
        '<td class="progress">{bar}<span class="pct">{progress}%</span></td>'
        '<td class="num done">{done}</td><td class="num failed{none}">{failed}</td>'
        '<td class="num total">{total}</td><td class="eta">{eta}</td>'
        '<td class="states">{states}</td></tr>',
        name=manifest.name,
        shown=label_of.get(manifest.id, manifest.name),  # NAME#RUN for a name's runs
        state=manifest.shown_state,
        bar=_bar(segments, label),
        progress=f"{progress:.1f}",
        done=done,
        failed=failed,
        none="" if failed else " none",
        total=total,
        eta=duration(eta_seconds(manifest, now)),
        states=states or "no jobs",
    )


def _manifests(overview: Overview) -> Html:
    active = [m for m in overview.manifests if m.state == "active"]
    finished = sorted(
        (m for m in overview.manifests if m.state != "active"),
        key=lambda m: (m.finished_at or 0.0, m.id),
        reverse=True,
    )
    shown = [*active, *finished[:FINISHED_SHOWN]]
    if not shown:
        return Html('<p class="empty">No manifests yet: drop one in the inbox.</p>')
    label_of = run_labels((m.id, m.name) for m in overview.manifests)
    rows = _join(_manifest_row(m, overview.now, label_of) for m in shown)
    older = len(finished) - FINISHED_SHOWN
    more = (
        _h('<p class="note">and {n} older finished manifests (all are in /status)</p>', n=older)
        if older > 0
        else Html("")
    )
    return _h(
        "<table><thead><tr><th>manifest</th><th>state</th><th>progress</th>"
        '<th class="num">done</th><th class="num">failed</th><th class="num">total</th>'
        "<th>ETA</th><th>jobs by state</th></tr></thead><tbody>{rows}</tbody></table>{more}",
        rows=rows,
        more=more,
    )


def _quota_row(use: QuotaUsage, now: float, decl: QuotaDecl | None) -> Html:
    """One quota; what it is (in an operator's words) and its unit are its declaration's."""
    in_seconds = decl is not None and decl.amount
    scale, unit = (3600.0, " h") if in_seconds else (1.0, "")
    pause = use.pause_left(now)
    paused = (
        _h('<span class="paused">paused {left} after a 429</span>', left=duration(pause))
        if pause > 0
        else Html("")
    )
    return _h(
        '<tr data-quota="{name}"><td class="name">{title} <code>{name}</code></td>'
        '<td class="progress">{bar}</td>'
        '<td class="num used">{used}</td><td class="num left">{left}</td>'
        '<td class="num limit">{limit}</td><td class="window">{window}</td>'
        '<td class="pause">{paused}</td></tr>',
        name=use.name,
        title=use.name if decl is None else decl.title,
        bar=_bar([("used", _percent(use.used, use.limit))], f"{use.used:g} of {use.limit:g} used"),
        used=_number(use.used / scale) + unit,
        left=_number(use.left / scale) + unit,
        limit=_number(use.limit / scale) + unit,
        window=f"per {duration(use.window_s)}",
        paused=paused,
    )


def _quotas(overview: Overview, apis: ApiCatalogue) -> Html:
    declared = apis.quotas()
    rows = _join(_quota_row(q, overview.now, declared.get(q.name)) for q in overview.quotas)
    return _h(
        "<table><thead><tr><th>quota</th><th>share used</th>"
        '<th class="num">used</th><th class="num">left</th><th class="num">allowed</th>'
        "<th>window</th><th></th></tr></thead><tbody>{rows}</tbody></table>",
        rows=rows,
    )


def _failure_row(failure: FailedJob) -> Html:
    return _h(
        '<tr data-job="{job}"><td class="when">{when}</td><td class="manifest">{manifest}</td>'
        '<td class="source">{source}</td><td class="reason">{reason}</td></tr>',
        job=failure.job_id,
        when=_utc(failure.failed_at),
        manifest=failure.manifest,
        source=failure.source,
        reason=reason_beside(failure.source, failure.reason),
    )


def _failures(overview: Overview) -> Html:
    if not overview.failures:
        return Html('<p class="empty">No failed jobs.</p>')
    rows = _join(_failure_row(f) for f in overview.failures)
    return _h(
        '<p class="note">The newest {n}, newest first; every failed job is in its '
        "manifest's report.</p><table><thead><tr><th>failed at</th><th>manifest</th>"
        "<th>file</th><th>reason</th></tr></thead><tbody>{rows}</tbody></table>",
        n=len(overview.failures),
        rows=rows,
    )


def _jobs(jobs: Mapping[str, int]) -> Html:
    if not jobs:
        return Html('<span class="empty">no jobs</span>')
    order = [s.value for s in State]
    return _join(
        _h('<span class="chip {state}" data-state="{state}">{n} {state}</span>', state=s, n=n)
        for s, n in sorted(jobs.items(), key=lambda item: order.index(item[0]))
        if n
    )


def render_page(
    overview: Overview, *, refresh_s: int = REFRESH_S, apis: ApiCatalogue = CATALOGUE
) -> str:
    """The whole status page; ``apis`` says what each quota is."""
    return _h(
        _PAGE,
        refresh=refresh_s,
        css=Html(_CSS),
        node=overview.node,
        uptime=duration(overview.uptime_s),
        started=_utc(overview.started_at),
        now=_utc(overview.now),
        jobs=_jobs(overview.jobs),
        manifests=_manifests(overview),
        quotas=_quotas(overview, apis),
        failures=_failures(overview),
    )


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="{refresh}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>speechkit-orchestrator on {node}</title>
<style>{css}</style>
</head>
<body>
<header>
<h1>speechkit-orchestrator</h1>
<p class="meta">node <b id="node">{node}</b> &middot; up <span id="uptime">{uptime}</span>
(since {started}) &middot; as of <span id="now">{now}</span> &middot; reloads every {refresh} s</p>
<p id="jobs">{jobs}</p>
</header>
<main>
<section id="manifests"><h2>Manifests</h2>{manifests}</section>
<section id="quotas"><h2>Quotas</h2>{quotas}</section>
<section id="failures"><h2>Recent failures</h2>{failures}</section>
</main>
<footer>Also: <a href="/status">/status</a> (JSON) &middot; <a href="/metrics">/metrics</a>
(Prometheus) &middot; <a href="/healthz">/healthz</a></footer>
</body>
</html>
"""

_CSS = """
:root { --done: #2e7d32; --failed: #c62828; --cancelled: #9e9e9e; --active: #64b5f6;
  --used: #5c6bc0; --line: #e0e0e0; --muted: #616161; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5rem;
  color: #212121; background: #fff; }
h1 { font-size: 1.4rem; margin: 0 0 .25rem; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
.meta, .note, .empty, footer { color: var(--muted); }
footer { margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line);
  vertical-align: middle; }
th { font-weight: 600; font-size: .85rem; color: var(--muted); }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.name, td.source { overflow-wrap: anywhere; }
td.manifest { white-space: nowrap; }
td.reason { overflow-wrap: anywhere; max-width: 40rem; }
td.progress { min-width: 12rem; white-space: nowrap; }
.bar { display: inline-flex; width: 10rem; height: .8rem; background: #eceff1;
  border-radius: .4rem; overflow: hidden; vertical-align: middle; }
.seg { display: block; height: 100%; }
.seg.done { background: var(--done); } .seg.failed { background: var(--failed); }
.seg.cancelled { background: var(--cancelled); } .seg.active { background: var(--active); }
.seg.used { background: var(--used); }
.pct { margin-left: .5rem; font-variant-numeric: tabular-nums; }
td.num.failed { color: var(--failed); } td.num.failed.none { color: inherit; }
td.when { white-space: nowrap; }
.chip { display: inline-block; margin: 0 .4rem .3rem 0; padding: .1rem .55rem;
  border-radius: 1rem; background: #eceff1; }
.chip.done { background: #e8f5e9; } .chip.failed { background: #ffebee; }
.paused { color: var(--failed); font-weight: 600; }
code { font-size: .85em; color: var(--muted); }
"""
