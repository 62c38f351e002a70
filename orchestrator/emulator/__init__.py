"""A local SpeechKit service for tests, benchmarks and the demo.

It speaks asynchronous API v2 and v3 and the legacy synchronous asr_xml API over real HTTP,
with the real paths, validation, quotas, expiry and faults; its transcripts are synthetic.
Start it in-process with :func:`start_emulator` or from the command line with
``speechkit-orchestrator emulator``.
"""

from __future__ import annotations

from orchestrator.emulator.app import STATS_PATH, RunningEmulator, start_emulator
from orchestrator.emulator.settings import DEMO_API_KEY, EmulatorSettings
from orchestrator.emulator.synth import EMULATED_MARK

__all__ = [
    "DEMO_API_KEY",
    "EMULATED_MARK",
    "STATS_PATH",
    "EmulatorSettings",
    "RunningEmulator",
    "start_emulator",
]
