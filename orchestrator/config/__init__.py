"""The daemon's YAML config -> typed, validated, frozen objects."""
