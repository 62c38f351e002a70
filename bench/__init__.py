"""Benchmarks: the orchestrator against fixed-interval pollers, side by side (``make bench``)."""
