"""Signals and reload: SIGTERM/SIGINT drain (a second one exits at once), SIGHUP re-reads
the config and applies what it can without a restart (the daemon's wiring is ``daemon``)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
from pathlib import Path

from orchestrator.auth import Credentials
from orchestrator.auth.credentials import CREDENTIAL_KEYS
from orchestrator.config import Config, load_config
from orchestrator.core.errors import UserInputError
from orchestrator.intake.inbox import Intake
from orchestrator.intake.roots import InputRoots
from orchestrator.pipeline.pipeline import Pipeline
from orchestrator.pipeline.settings import PipelineSettings, settings_from_config
from orchestrator.service.notify import Notifier
from orchestrator.telemetry import logs

log = logs.get_logger()

# A second SIGTERM/SIGINT during the drain: exit at once with this status.
EXIT_NOW_STATUS = 1


def log_warnings(config: Config) -> None:
    """The config's warnings (a secret file others may read...), one event each."""
    for warning in config.warnings:
        log.warning("config.warning", config=config.source, warning=str(warning))


def restart_needed(old: Config, new: Config) -> list[str]:
    """The changed parts of the config that take effect only at the next start."""
    # The pipeline takes these two at once, the credentials take theirs (a new source);
    # the rest of the section builds the clients.
    taken = ("results_ttl_s", "delete_results_after_done", *CREDENTIAL_KEYS)
    old_speechkit = dataclasses.replace(
        old.speechkit, **{key: getattr(new.speechkit, key) for key in taken}
    )
    needed = [
        name
        for name, before in (
            ("speechkit", old_speechkit),
            ("storage", old.storage),
            ("status", old.status),
        )
        if getattr(new, name) != before
    ]
    if new.paths.state_file != old.paths.state_file:
        needed.append("paths.state_file")
    if new.service.node != old.service.node:
        needed.append("service.node")
    needed.extend(name for name in ("state", "outputs") if getattr(new, name) != getattr(old, name))
    return needed


def reloaded_settings(new: Config, running: PipelineSettings) -> PipelineSettings:
    """The pipeline's settings from a reloaded config: the node and where results go stay
    as they were until a restart."""
    return dataclasses.replace(
        settings_from_config(new),
        node=running.node,
        outputs_prefix=running.outputs_prefix,
        outputs_local=running.outputs_local,
    )


def reconfigure_intake(intake: Intake, new: Config) -> None:
    """Point intake at a reloaded config's folders, input roots and hook policy."""
    intake.inbox = new.paths.inbox
    intake.failed = new.paths.failed
    intake.processed = new.paths.processed
    intake.roots = InputRoots.of(new)
    intake.hook_policy = new.hooks.policy


class Control:
    """The daemon's answers to signals, and the config in force (a reload replaces it).

    A reload reaches the pipeline and intake once they run (``attach``); before, it
    replaces the config only."""

    def __init__(self, config: Config, config_path: Path | None, notifier: Notifier) -> None:
        self.config = config
        self.config_path = config_path
        self.notifier = notifier
        self.stop = asyncio.Event()
        # Set by a reload: intake looks again now (the inbox may be a new directory).
        self.scan_wake = asyncio.Event()
        self.pipeline: Pipeline | None = None
        self.intake: Intake | None = None
        # The credential of every SpeechKit request, once the clients are made.
        self.credentials: Credentials | None = None
        self._stop_requests = 0

    def problems(self) -> list[str]:
        """What makes the daemon degraded now (``/healthz``): no credential can be had,
        the bucket cannot be used."""
        found = []
        credentials = self.credentials
        if credentials is not None and not credentials.ok:
            found.append(f"credentials ({credentials.source}): {credentials.error}")
        bucket = None if self.pipeline is None else self.pipeline.bucket.problem()
        if bucket is not None:
            found.append(bucket)
        return found

    def attach(self, pipeline: Pipeline, intake: Intake) -> None:
        """The running parts a reload applies to and a stop reports on."""
        self.pipeline = pipeline
        self.intake = intake

    def install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        """SIGTERM/SIGINT drain (a second exits at once); SIGHUP reloads."""
        loop.add_signal_handler(signal.SIGTERM, self.request_stop, "SIGTERM")
        loop.add_signal_handler(signal.SIGINT, self.request_stop, "SIGINT")
        loop.add_signal_handler(signal.SIGHUP, self.reload)

    def request_stop(self, signame: str = "SIGTERM") -> None:
        """First call drains; a second one exits at once."""
        self._stop_requests += 1
        if self._stop_requests > 1:
            log.warning("daemon.exit_now", signal=signame, exit_status=EXIT_NOW_STATUS)
            # os._exit skips the interpreter's flush: the journal would miss the line above.
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            # Every store write is one transaction: exiting here leaves the store consistent.
            os._exit(EXIT_NOW_STATUS)
        log.info(
            "daemon.stopping",
            signal=signame,
            in_flight=self.pipeline.in_flight if self.pipeline else 0,
        )
        self.notifier.stopping("draining: finishing the requests in flight")
        self.stop.set()

    def reload(self) -> None:
        """Re-read the config file; keep the old config if the new one is invalid."""
        if self.config_path is None:
            log.warning("daemon.reload_failed", reason="no config file to reload")
            return
        self.notifier.reloading()
        try:
            new = load_config(self.config_path)
        except UserInputError as exc:
            log.error(
                "daemon.reload_failed",
                config=str(self.config_path),
                problems=[str(p) for p in exc.problems],
            )
            self.notifier.ready(status="reload refused: the new config is invalid")
            return
        needed = restart_needed(self.config, new)
        self._apply(new)
        log.info(
            "daemon.reloaded",
            config=str(self.config_path),
            restart_needed_for=needed or None,
        )
        self.notifier.ready(status="reloaded")

    def _apply(self, new: Config) -> None:
        """Take a valid new config: logging, the pipeline's settings, intake's folders."""
        self.config = new
        logs.configure(new.logging.level, new.logging.format)
        log_warnings(new)
        if self.pipeline is not None:
            self.pipeline.apply(reloaded_settings(new, self.pipeline.settings))
            # The operator may have mended the bucket or its rights: see at once.
            self.pipeline.bucket.recheck()
        if self.intake is not None:
            reconfigure_intake(self.intake, new)
        if self.credentials is not None and self.credentials.reconfigure(new.speechkit):
            log.info("credentials.changed", source=self.credentials.source)
        self.scan_wake.set()
