"""The daemon process: wiring, signals and reload, sd_notify, status server."""
