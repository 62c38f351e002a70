"""Helpers shared by tests: ready-made real components (the SpeechKit emulator, ...)."""
