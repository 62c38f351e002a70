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
from pathlib import Path

from orchestrator.commands.common import print_warnings
from orchestrator.config import ConcurrencyConfig, QuotasConfig, load_config
from orchestrator.core import constants as c
from orchestrator.core.apis import facts_of
from orchestrator.core.audio import AudioFacts
from orchestrator.core.billing import billable_seconds
from orchestrator.core.errors import Problem
from orchestrator.core.finish_time import DAY_S, Quotas, Window, Work, finish_time
from orchestrator.core.polling import is_deferred
from orchestrator.intake.jobspec import JobSpec
from orchestrator.intake.manifest import validate_manifest
from orchestrator.intake.roots import InputRoots
from orchestrator.pipeline.settings import per_second


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
    submit_wait_s: float
    status_wait_s: float
    daily_wait_s: float
    longest_processing_s: float
    finish_s: float
    jobs_by_api: dict[str, int]
    v3_status_wait_s: float
    asr_xml_wait_s: float


def quotas_of(quotas: QuotasConfig, concurrency: ConcurrencyConfig) -> Quotas:
    """The configured quotas as the finish time counts them, each with its whole window
    ahead: the same figures as the daemon's (margins, counted windows)."""
    window = quotas.counted_window_s()
    v3 = per_second(quotas.v3_status_checks_per_second, quotas.safety_margin)
    sync = per_second(quotas.asr_xml_requests_per_second, quotas.safety_margin)
    return Quotas(
        submit=Window(quotas.usable(quotas.submissions), window),
        status=Window(quotas.usable(quotas.status_checks), window),
        status_v3=Window(v3.effective_limit, v3.window_s),
        audio_hours=Window(quotas.audio_hours_per_day * (1.0 - quotas.safety_margin), DAY_S),
        asr_xml=Window(sync.effective_limit, sync.window_s),
        asr_xml_concurrency=concurrency.asr_xml_requests,
    )


def estimate(
    jobs: Sequence[JobSpec],
    infos: dict[str, AudioFacts],
    quotas: QuotasConfig,
    concurrency: ConcurrencyConfig | None = None,
) -> Estimate:
    """Plan figures for ``jobs`` under ``quotas`` (pure; see ``core.finish_time``)."""
    concurrency = concurrency or ConcurrencyConfig()
    audio_s = billable = longest = sync_processing = 0.0
    probed = deferred = 0
    by_api = dict.fromkeys(c.APIS, 0)
    for job in jobs:
        api = job.settings.api
        by_api[api] += 1
        asynchronous = facts_of(api).asynchronous
        if is_deferred(job.settings.model):
            deferred += 1
        info = infos.get(job.source)
        if info is None:
            continue
        probed += 1
        audio_s += info.duration_s
        if not asynchronous:
            # Heard as one channel, and not asynchronous recognition's to bill or count.
            sync_processing += info.duration_s * c.PROCESSING_S_PER_AUDIO_S
            continue
        billable += billable_seconds(info.duration_s, info.channels)
        longest = max(longest, info.duration_s * info.channels * c.PROCESSING_S_PER_AUDIO_S)
    work = Work(
        v2_jobs=by_api["v2"],
        v3_jobs=by_api["v3"],
        billable_hours=billable / 3600.0,
        longest_processing_s=longest,
        asr_xml_jobs=by_api["asr_xml"],
        asr_xml_processing_s=sync_processing,
    )
    finish = finish_time(work, quotas_of(quotas, concurrency))
    return Estimate(
        files=len(jobs),
        probed_files=probed,
        unknown_files=len(jobs) - probed,
        deferred_files=deferred,
        audio_s=audio_s,
        audio_hours=audio_s / 3600.0,
        billable_s=billable,
        billable_hours=billable / 3600.0,
        submit_wait_s=finish.submit_wait_s,
        status_wait_s=finish.status_wait_s,
        daily_wait_s=finish.daily_wait_s,
        longest_processing_s=longest,
        finish_s=finish.finish_s,
        jobs_by_api=by_api,
        v3_status_wait_s=finish.v3_status_wait_s,
        asr_xml_wait_s=finish.asr_xml_wait_s,
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
    parser.add_argument("manifests", nargs="+", type=Path, metavar="MANIFEST")
    parser.add_argument(
        "--config",
        type=Path,
        help="daemon config whose quotas and input roots to use (default: SpeechKit's quotas)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(handler=run)


def _keep(
    jobs: list[JobSpec], infos: dict[str, AudioFacts], job: JobSpec, facts: AudioFacts | None
) -> None:
    """Collect a manifest's jobs and the facts of their audio, as validation finds them."""
    jobs.append(job)
    if facts is not None:
        infos[job.source] = facts


def run(args: argparse.Namespace) -> int:
    """Print the plan for every manifest and the total; 2 when any problem was found."""
    quotas, concurrency = QuotasConfig(), ConcurrencyConfig()
    roots = None
    if args.config is not None:
        # The plan never talks to the service: secret references are checked, not read.
        config = load_config(args.config, resolve_secrets=False)
        print_warnings(config)
        quotas, concurrency, roots = config.quotas, config.concurrency, InputRoots.of(config)
    rows: list[tuple[str, str, Estimate]] = []
    problems: list[Problem] = []
    all_jobs: list[JobSpec] = []
    all_infos: dict[str, AudioFacts] = {}
    for path in args.manifests:
        jobs: list[JobSpec] = []
        infos: dict[str, AudioFacts] = {}
        found = validate_manifest(path, roots, partial(_keep, jobs, infos))
        problems.extend(found.problems)
        if found.name is None:
            jobs = []
        name = "-" if found.name is None else found.name
        rows.append((str(path), name, estimate(jobs, infos, quotas, concurrency)))
        all_jobs.extend(jobs)
        all_infos.update(infos)
    total = estimate(all_jobs, all_infos, quotas, concurrency)
    if args.json:
        document = {
            "manifests": [{"file": file, "name": name, **asdict(est)} for file, name, est in rows],
            "total": asdict(total),
            "quotas": asdict(quotas),
            "concurrency": asdict(concurrency),
            "problems": [p.as_dict() for p in problems],
        }
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_table(rows, total, quotas)
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
    return 2 if problems else 0


def _print_table(rows: list[tuple[str, str, Estimate]], total: Estimate, q: QuotasConfig) -> None:
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
    if total.jobs_by_api["v2"] + total.jobs_by_api["v3"]:
        v3 = (
            f", v3 status checks {human_duration(total.v3_status_wait_s)}"
            if total.jobs_by_api["v3"]
            else ""
        )
        print(
            f"finish = max(submissions {human_duration(total.submit_wait_s)}, status checks "
            f"{human_duration(total.status_wait_s)}{v3}, daily audio "
            f"{human_duration(total.daily_wait_s)}) + longest file's processing "
            f"{human_duration(total.longest_processing_s)}"
        )
    if total.jobs_by_api["asr_xml"]:
        print(
            f"asr_xml: {human_duration(total.asr_xml_wait_s)} at "
            f"{q.asr_xml_requests_per_second:g} requests a second"
        )
    if total.unknown_files:
        print(f"{total.unknown_files} file(s) of unknown duration (s3:// or failed checks)")
    if total.deferred_files:
        print(f"{total.deferred_files} deferred file(s) may take up to 24 h more")
