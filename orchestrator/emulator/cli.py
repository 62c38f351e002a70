"""``speechkit-orchestrator emulator``: run the SpeechKit emulator until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from dataclasses import fields
from typing import Any

from orchestrator.emulator.app import STATS_PATH, start_emulator
from orchestrator.emulator.settings import DEMO_API_KEY, EmulatorSettings

DEFAULT_PORT = 8765
ENV_API_KEY = "SPEECHKIT_EMULATOR_API_KEY"
ENV_IAM_TOKEN = "SPEECHKIT_EMULATOR_IAM_TOKEN"
ENV_S3_ACCESS_KEY = "SPEECHKIT_EMULATOR_S3_ACCESS_KEY"
ENV_S3_SECRET_KEY = "SPEECHKIT_EMULATOR_S3_SECRET_KEY"
_SECRET_FIELDS = (
    "api_keys",
    "iam_tokens",
    "asr_xml_locked_keys",
    "s3_access_key",
    "s3_secret_key",
)

# (option, settings field, type, help); defaults come from EmulatorSettings.
_TUNING: tuple[tuple[str, str, type, str], ...] = (
    ("--speed", "speed", float, "clock speed-up: 100 makes a minute of audio take 0.1 s"),
    ("--seed", "seed", int, "seed of every random choice (noise, faults)"),
    ("--submit-quota", "submit_quota", int, "recognition requests per quota window"),
    ("--status-quota", "status_quota", int, "operation status checks per quota window"),
    ("--quota-window", "quota_window_s", float, "quota window in seconds (default 3600/speed)"),
    ("--ttl", "ttl_s", float, "seconds results stay readable (default 3 days/speed)"),
    ("--max-concurrent", "max_concurrent", int, "operations processed at once; others queue"),
    ("--deferred-factor", "deferred_factor", float, "slowdown of deferred-general"),
    ("--processing-noise", "processing_noise", float, "sigma of the log-normal time noise"),
    (
        "--processing-overhead-s",
        "processing_overhead_s",
        float,
        "fixed service seconds each operation takes on top of its audio's (default 0)",
    ),
    ("--error-5xx-rate", "error_5xx_rate", float, "share of API requests answered 500/503"),
    ("--reset-rate", "reset_rate", float, "share of API requests whose connection is reset"),
    ("--slow-rate", "slow_rate", float, "share of API requests answered after --slow-s"),
    ("--slow-s", "slow_s", float, "delay of a slow answer, seconds"),
    ("--op-error-rate", "op_error_rate", float, "share of operations that end with an error"),
    (
        "--op-error-undone-rate",
        "op_error_undone_rate",
        float,
        "share of failed operations that say done: false beside their error",
    ),
    ("--v3-status-quota", "v3_status_quota", int, "API v3 status checks per v3 window"),
    (
        "--v3-status-window",
        "v3_status_window_s",
        float,
        "v3 status-check window in seconds (default 1/speed)",
    ),
    ("--asr-xml-quota", "asr_xml_quota", int, "asr_xml requests per asr_xml window"),
    (
        "--asr-xml-window",
        "asr_xml_window_s",
        float,
        "asr_xml request-rate window in seconds (default 1/speed)",
    ),
    (
        "--asr-xml-max-stream-bytes",
        "asr_xml_max_stream_bytes",
        int,
        "longest chunked asr_xml body accepted",
    ),
    (
        "--iam-token-lifetime-s",
        "iam_token_lifetime_s",
        float,
        "seconds an issued IAM token is taken, then 401 (default 12 hours/speed)",
    ),
    (
        "--timestamp-resolution",
        "timestamp_resolution_s",
        float,
        "Operation timestamps cut to this many service seconds (0: microseconds)",
    ),
    ("--audio-quota-hours", "audio_quota_hours", float, "billable audio hours per audio window"),
    (
        "--audio-window",
        "audio_window_s",
        float,
        "audio quota window in seconds (default a day/speed)",
    ),
    (
        "--v3-stream-layout",
        "v3_stream_layout",
        str,
        "getRecognition's layout: lines (one message a line), pretty (as the docs print "
        "it) or packed (all on one line)",
    ),
)
# (option, settings field, help) of on/off switches, off by default.
_SWITCHES: tuple[tuple[str, str, str], ...] = (
    ("--retry-after", "retry_after", "send Retry-After on 429 (the real service documents none)"),
    (
        "--v3-empty-response",
        "v3_empty_response",
        "finished v3 operations carry response: google.protobuf.Empty (the docs show none)",
    ),
)


def _codes(text: str) -> tuple[int, ...]:
    """A comma-separated list of gRPC codes."""
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from exc


def _add_access_options(parser: argparse.ArgumentParser, defaults: EmulatorSettings) -> None:
    """Where the emulator listens, whom it lets in, and the S3 server it reads from."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port (0: any free port; %(default)s)"
    )
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help=f"accepted API key, repeatable (default: ${ENV_API_KEY} or {DEMO_API_KEY!r})",
    )
    parser.add_argument(
        "--iam-token",
        action="append",
        dest="iam_tokens",
        metavar="TOKEN",
        help=f"accepted IAM token, repeatable (default: ${ENV_IAM_TOKEN}, if set)",
    )
    parser.add_argument(
        "--s3-endpoint",
        metavar="URL",
        help="S3 endpoint that stands for https://storage.yandexcloud.net (e.g. a local server)",
    )
    parser.add_argument(
        "--s3-access-key",
        metavar="KEY",
        help=f"S3 access key (default: ${ENV_S3_ACCESS_KEY}; none: anonymous)",
    )
    parser.add_argument(
        "--s3-secret-key", metavar="KEY", help=f"S3 secret key (default: ${ENV_S3_SECRET_KEY})"
    )
    parser.add_argument("--s3-region", default=defaults.s3_region, help="S3 region")
    parser.add_argument(
        "--write-authorized-key",
        dest="authorized_key_path",
        metavar="PATH",
        help="write the authorized key of the emulator's service account (a new key pair "
        "each start, as `yc iam key create` writes it) to PATH, mode 0600",
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``emulator`` subcommand."""
    defaults = EmulatorSettings()
    parser = subparsers.add_parser(
        "emulator",
        help="run a local SpeechKit service (synthetic transcripts) for tests and the demo",
        description="A local SpeechKit service (API v2, API v3 and the legacy asr_xml): real "
        "paths, quotas, expiry and faults; the transcripts are synthetic. Stops cleanly on "
        "Ctrl-C or SIGTERM.",
    )
    _add_access_options(parser, defaults)
    for option, name, kind, text in _TUNING:
        default = getattr(defaults, name)
        shown = "" if default is None else f" (default {default})"
        parser.add_argument(
            option, dest=name, type=kind, default=default, metavar="N", help=text + shown
        )
    for option, name, text in _SWITCHES:
        parser.add_argument(option, dest=name, action="store_true", help=text)
    parser.add_argument(
        "--op-error-codes",
        type=_codes,
        default=defaults.op_error_codes,
        metavar="CODES",
        help="gRPC codes failed operations end with, comma-separated, from 3, 4, 7, 13, 14 "
        f"(default {','.join(str(c) for c in defaults.op_error_codes)})",
    )
    parser.add_argument(
        "--asr-xml-locked-key",
        action="append",
        dest="asr_xml_locked_keys",
        metavar="KEY",
        help="an asr_xml key answered 423 (locked), repeatable",
    )
    parser.set_defaults(handler=run)


def settings_from_args(args: argparse.Namespace, env: dict[str, str]) -> EmulatorSettings:
    """EmulatorSettings from parsed options, with secrets defaulting to the environment."""
    api_keys = args.api_keys or [env.get(ENV_API_KEY) or DEMO_API_KEY]
    iam_tokens = args.iam_tokens or ([env[ENV_IAM_TOKEN]] if env.get(ENV_IAM_TOKEN) else [])
    values: dict[str, Any] = {name: getattr(args, name) for _, name, _, _ in _TUNING}
    values.update({name: getattr(args, name) for _, name, _ in _SWITCHES})
    return EmulatorSettings(
        host=args.host,
        port=args.port,
        api_keys=tuple(api_keys),
        iam_tokens=tuple(iam_tokens),
        s3_endpoint_url=args.s3_endpoint,
        s3_access_key=args.s3_access_key or env.get(ENV_S3_ACCESS_KEY),
        s3_secret_key=args.s3_secret_key or env.get(ENV_S3_SECRET_KEY),
        s3_region=args.s3_region,
        op_error_codes=args.op_error_codes,
        asr_xml_locked_keys=tuple(args.asr_xml_locked_keys or ()),
        authorized_key_path=args.authorized_key_path,
        **values,
    )


def describe(settings: EmulatorSettings) -> list[str]:
    """The settings as ``name: value`` lines, secrets reduced to a count or set/unset."""
    lines = []
    for item in fields(settings):
        value = getattr(settings, item.name)
        if item.name in ("api_keys", "iam_tokens"):
            value = f"{len(value)} accepted"
        elif item.name == "asr_xml_locked_keys":
            value = f"{len(value)} locked"
        elif item.name in _SECRET_FIELDS:
            value = "set" if value else "not set"
        lines.append(f"  {item.name}: {value}")
    lines.append(f"  effective quota window: {settings.effective_window_s:g} s")
    lines.append(f"  effective result TTL: {settings.effective_ttl_s:g} s")
    lines.append(f"  effective v3 status window: {settings.effective_v3_status_window_s:g} s")
    lines.append(f"  effective asr_xml window: {settings.effective_asr_xml_window_s:g} s")
    lines.append(f"  IAM token lifetime: {settings.effective_iam_token_lifetime_s:g} s")
    return lines


def run(args: argparse.Namespace) -> int:
    """Handler of ``emulator``: serve until SIGINT or SIGTERM, then exit 0."""
    try:
        settings = settings_from_args(args, dict(os.environ))
    except ValueError as exc:
        print(f"error: emulator: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(settings))
    except OSError as exc:
        print(f"error: emulator: cannot listen on {settings.host}:{settings.port}: {exc.strerror}",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


async def _serve(settings: EmulatorSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    running = await start_emulator(settings)
    try:
        print(f"SpeechKit emulator listening on {running.url}", flush=True)
        print(f"  stats: {running.url}{STATS_PATH}")
        print("\n".join(describe(settings)), flush=True)
        print("Transcripts are synthetic. Press Ctrl-C to stop.", flush=True)
        await stop.wait()
    finally:
        await running.close()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    print("SpeechKit emulator stopped", flush=True)
