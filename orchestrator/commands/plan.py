"""``speechkit-orchestrator plan MANIFEST...``: files, audio, billable units and time to finish.

The time to finish is ``core.finish_time``'s formula (its docstring says how it is made)
with every quota's whole window ahead and 10 s of processing per audio minute.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

from orchestrator.commands.common import add_manifests_arguments, print_warnings
from orchestrator.config import ConcurrencyConfig, Config, QuotasConfig, load_config
from orchestrator.config.schema import SpeechKitConfig
from orchestrator.core import constants as c
from orchestrator.core.apis import ApiCatalogue
from orchestrator.core.billing import billable_seconds
from orchestrator.core.errors import Problem
from orchestrator.core.finish_time import Quotas, Work, finish_time, whole_windows
from orchestrator.core.polling import is_deferred
from orchestrator.core.quota import QuotaSpec
from orchestrator.intake.jobspec import JobSpec
from orchestrator.intake.manifest import validate_manifest
from orchestrator.intake.preparation import Preparation
from orchestrator.intake.roots import InputRoots
from orchestrator.pipeline.media import workers
from orchestrator.pipeline.settings import api_concurrency, quota_specs
from orchestrator.speechkit.catalogue import CATALOGUE


@dataclass(frozen=True)
class Estimate:
    """The figures of a plan for one manifest or for all of them together."""

    files: int
    probed_files: int  # local files whose duration is known
    unknown_files: int  # s3:// objects (not fetched) and files that failed the checks
    deferred_files: int
    audio_s: float
    audio_hours: float
    billable_s: float  # SpeechKit's billable units: seconds of two-channel audio
    billable_hours: float
    longest_processing_s: float
    finish_s: float
    jobs_by_api: dict[str, int]
    # The wait each quota causes, by its ``wait_key`` (``submit_wait_s``...).
    waits_s: dict[str, float]
    converted_files: int = 0  # sent as their conversion to Ogg Opus
    split_files: int = 0  # recordings longer than a part may be
    parts: int = 0  # the parts those are sent in (each a request of its own)
    conversion_s: float = 0.0  # the conversions' time with every worker busy

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: each quota's wait a field of its own."""
        document = asdict(self)
        return {**document, **document.pop("waits_s")}


def plan_quotas(config: Config | None, apis: ApiCatalogue = CATALOGUE) -> dict[str, QuotaSpec]:
    """The quotas of ``config`` (None: SpeechKit's) as the daemon counts them: the same
    derivation as its pipeline settings (margins, counted windows)."""
    if config is None:
        return quota_specs(apis, QuotasConfig(), SpeechKitConfig().request_timeout_s)
    return quota_specs(apis, config.quotas, config.speechkit.request_timeout_s, config.source)


def plan_windows(config: Config | None, apis: ApiCatalogue = CATALOGUE) -> Quotas:
    """The configured quotas as the finish time counts them, each with its whole window
    ahead, and each capped API's concurrency."""
    if config is None:
        caps = api_concurrency(apis, ConcurrencyConfig())
    else:
        caps = api_concurrency(apis, config.concurrency, config.source)
    return whole_windows(plan_quotas(config, apis), caps)


def plan_work(jobs: Sequence[JobSpec], infos: dict[str, Preparation], apis: ApiCatalogue) -> Work:
    """What ``jobs`` leave to do before a run: every job (or each of its parts) to submit,
    the billable audio (billed part by part) and the processing of those whose audio is
    known, at 10 s per audio minute."""
    to_submit = dict.fromkeys(apis, 0)
    billable: dict[str, float] = {}
    processing: dict[str, float] = {}
    longest = 0.0
    for job in jobs:
        api = job.settings.api
        prepared = infos.get(job.source)
        to_submit[api] += 1 if prepared is None else prepared.parts
        if prepared is None:
            continue
        info, parts = prepared.facts, prepared.parts
        if not apis[api].asynchronous:
            # Heard as one channel, and not asynchronous recognition's to bill or count.
            spent = info.duration_s * c.PROCESSING_S_PER_AUDIO_S
            processing[api] = processing.get(api, 0.0) + spent
            continue
        part_s = info.duration_s / parts  # the cuts come near the limit: parts of a size
        billed = parts * billable_seconds(part_s, info.channels)
        billable[api] = billable.get(api, 0.0) + billed
        longest = max(longest, part_s * info.channels * c.PROCESSING_S_PER_AUDIO_S)
    return Work(
        to_submit=to_submit,
        billable_s=billable,
        longest_processing_s=longest,
        processing_s=processing,
    )


def estimate(
    jobs: Sequence[JobSpec],
    infos: dict[str, Preparation],
    quotas: Quotas,
    apis: ApiCatalogue = CATALOGUE,
    conversions: int = 1,
) -> Estimate:
    """Plan figures for ``jobs`` under ``quotas`` (pure; see ``core.finish_time``), with
    ``conversions`` files converted at once: where converting takes longer than the
    quotas' pace, it is what the time to finish waits for."""
    known = [infos[job.source] for job in jobs if job.source in infos]
    audio_s = sum(prepared.facts.duration_s for prepared in known)
    work = plan_work(jobs, infos, apis)
    finish = finish_time(work, quotas, apis)
    billable = sum(work.billable_s.values())
    converted = [p for p in known if p.facts.converted]
    converted_audio_s = sum(p.facts.duration_s * p.facts.channels for p in converted)
    conversion_s = converted_audio_s / c.CONVERSION_AUDIO_S_PER_CPU_S / max(1, conversions)
    split = [p for p in known if p.split]
    return Estimate(
        files=len(jobs),
        probed_files=len(known),
        unknown_files=len(jobs) - len(known),
        deferred_files=sum(1 for job in jobs if is_deferred(job.settings.model)),
        audio_s=audio_s,
        audio_hours=audio_s / 3600.0,
        billable_s=billable,
        billable_hours=billable / 3600.0,
        longest_processing_s=work.longest_processing_s,
        finish_s=max(finish.finish_s, conversion_s),
        jobs_by_api=dict(work.to_submit),
        waits_s={
            decl.wait_key: finish.waits_s.get(name, 0.0) for name, decl in apis.quotas().items()
        },
        converted_files=len(converted),
        split_files=len(split),
        parts=sum(p.parts for p in split),
        conversion_s=conversion_s,
    )


def human_duration(seconds: float) -> str:
    """``42s``, ``3m 05s``, ``2h 10m``, ``1d 03h``."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600:02d}h"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``plan`` subcommand."""
    parser = subparsers.add_parser(
        "plan",
        help="files, audio hours, billable units and time to finish under the quotas",
        description=(
            "Estimate what recognising the manifests costs and how long it takes under the "
            "configured quotas (no network). Problems are printed as with 'validate'; "
            "exit status 2 when there are any."
        ),
    )
    add_manifests_arguments(
        parser, "daemon config whose quotas and input roots to use (default: SpeechKit's quotas)"
    )
    parser.set_defaults(handler=run)


def _keep(
    jobs: list[JobSpec], infos: dict[str, Preparation], job: JobSpec, found: Preparation | None
) -> None:
    """Collect a manifest's jobs and what is done to their audio, as validation finds it."""
    jobs.append(job)
    if found is not None:
        infos[job.source] = found


def run(args: argparse.Namespace) -> int:
    """Print the plan for every manifest and the total; 2 when any problem was found."""
    config, roots = None, None
    if args.config is not None:
        # The plan never talks to the service: secret references are checked, not read.
        config = load_config(args.config, resolve_secrets=False)
        print_warnings(config)
        roots = InputRoots.of(config)
    quotas = config.quotas if config is not None else QuotasConfig()
    concurrency = config.concurrency if config is not None else ConcurrencyConfig()
    apis = CATALOGUE  # the APIs this daemon drives: what each spends
    windows = plan_windows(config, apis)
    conversions = workers(concurrency.conversions)
    max_part_s = config.audio.max_part_s if config is not None else None
    rows: list[tuple[str, str, Estimate]] = []
    problems: list[Problem] = []
    warnings: list[Problem] = []  # the bad files of a manifest that skips them
    all_jobs: list[JobSpec] = []
    all_infos: dict[str, Preparation] = {}
    for path in args.manifests:
        jobs: list[JobSpec] = []
        infos: dict[str, Preparation] = {}
        found = validate_manifest(path, roots, partial(_keep, jobs, infos), apis, max_part_s)
        problems.extend(found.problems)
        warnings.extend(found.warnings)
        if found.name is None:
            jobs = []
        name = "-" if found.name is None else found.name
        rows.append((str(path), name, estimate(jobs, infos, windows, apis, conversions)))
        all_jobs.extend(jobs)
        all_infos.update(infos)
    total = estimate(all_jobs, all_infos, windows, apis, conversions)
    if args.json:
        document = {
            "manifests": [
                {"file": file, "name": name, **est.to_dict()} for file, name, est in rows
            ],
            "total": total.to_dict(),
            "quotas": asdict(quotas),
            "concurrency": asdict(concurrency),
            "problems": [p.as_dict() for p in problems],
            "warnings": [w.as_dict() for w in warnings],
        }
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        # A manifest that could not be read has nothing to plan: no empty row for it, and
        # no table at all when none could.
        planned = [row for row in rows if row[1] != "-"]
        if planned:
            _print_table(planned, total, quotas, windows, apis)
        for warning in warnings:
            print(f"warning: {warning} (bad_files: skip)", file=sys.stderr)
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
    return 2 if problems else 0


def _print_table(
    rows: list[tuple[str, str, Estimate]],
    total: Estimate,
    q: QuotasConfig,
    windows: Quotas,
    apis: ApiCatalogue = CATALOGUE,
) -> None:
    header = ("MANIFEST", "FILES", "AUDIO H", "BILLABLE S", "BILLABLE H", "FINISH")
    lines = [header]
    for file, name, est in [*rows, ("", "TOTAL", total)]:
        label = f"{name} ({file})" if file else name
        lines.append(
            (
                label,
                str(est.files),
                f"{est.audio_hours:.3f}",
                f"{est.billable_s:.0f}",
                f"{est.billable_hours:.3f}",
                human_duration(est.finish_s),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        cells = [line[0].ljust(widths[0])] + [
            v.rjust(w) for v, w in zip(line[1:], widths[1:], strict=True)
        ]
        print("  ".join(cells))
    print()
    print(
        f"quotas: {q.usable(q.submissions)} submissions and {q.usable(q.status_checks)} status "
        f"checks per {q.counted_window_s():g} s, "
        f"{q.audio_hours_per_day * (1 - q.safety_margin):g} audio hours per day "
        f"({q.safety_margin:.0%} kept unused)"
    )
    print("jobs by api: " + ", ".join(f"{api} {n}" for api, n in total.jobs_by_api.items() if n))
    _print_finish(total, windows, apis)
    if total.unknown_files:
        print(f"{total.unknown_files} file(s) of unknown duration (s3:// or failed checks)")
    if total.converted_files:
        print(
            f"{total.converted_files} file(s) converted to Ogg Opus: about "
            f"{human_duration(total.conversion_s)} with every conversion worker busy "
            "(the time to finish waits for it where the quotas go faster)"
        )
    if total.split_files:
        print(f"{total.split_files} long recording(s) split into {total.parts} parts")
    if total.deferred_files:
        print(f"{total.deferred_files} deferred file(s) may take up to 24 h more")


def _print_finish(total: Estimate, windows: Quotas, apis: ApiCatalogue) -> None:
    """What makes up the finish: the asynchronous APIs' quotas, each synchronous API's."""
    used = [apis[api] for api, n in total.jobs_by_api.items() if n]
    declared = apis.quotas()

    def wait(quota: str) -> str:
        return human_duration(total.waits_s[declared[quota].wait_key])

    spent = {q for spec in used if spec.asynchronous for q in spec.spends()}
    if spent:
        # By the quotas' names (the status page's and the metrics'), in the catalogue's order.
        parts = ", ".join(f"{q} {wait(q)}" for q in declared if q in spent)
        print(
            f"finish = max({parts}) + longest file's processing "
            f"{human_duration(total.longest_processing_s)}"
        )
    for spec in used:
        if not spec.asynchronous:
            window = windows.windows[spec.submit_quota]
            print(
                f"{spec.name}: {wait(spec.submit_quota)} at {window.limit:g} requests "
                f"per {window.window_s:g} s"
            )
