"""What FFmpeg (through PyAV) does for us: probe, convert, find quiet cuts, in worker processes.

Nothing here knows of jobs, stores or configs; callers pass paths and targets.
"""
