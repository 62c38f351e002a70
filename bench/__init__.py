"""Benchmarks: the orchestrator against fixed-interval pollers, side by side (``make bench``).

``python -m bench`` generates N seeded WAV files of noise (8 kHz mono, log-uniform
durations), then runs each contender alone against a fresh S3 server (moto) and a fresh
emulator with the same speed and seed, and reads the emulator's counters
(``/_emulator/stats``): status checks per job, lag between "done on the server" and the
first check that saw it, 429s, submissions per job, and the time from the first
submission to the last job seen done. It prints absolute figures and the ratios
baseline/orchestrator, and writes the raw results to ``bench/results/latest.json``.

Fairness, and what the figures do not say:

- One clock: the emulator runs ``speed`` times faster than the service; its quota window
  is 3600/speed s; every contender's intervals (the baselines' fixed ones, the daemon's
  polling, retry and quota settings) are divided by ``speed``. Times are reported in
  service time (wall x speed).
- The contenders: the real daemon (``python -m orchestrator run --until-idle``), and
  ``python -m bench.poller`` for the baselines (plain aiohttp, one coroutine per job:
  submit, then check on the tool's schedule, see ``bench.schedules``). Baselines retry a
  429 after its Retry-After (the real tools would crash). The emulator sends Retry-After
  in whole seconds of its own clock, at least 1: a throttled client waits up to ``speed``
  service seconds too long, the daemon as much as the baselines.
- The orchestrator uploads its files itself (WAV header stripped) and that time is in its
  figures when it overlaps its submissions; the baselines' raw PCM is uploaded by the
  bench before they start, untimed.
- A fixed-interval poller asks for jobs x speed / interval requests per wall second. Past
  what this machine serves (about a thousand a second on two cores), it polls less often
  than the tool would: the report flags it (understated checks, overstated lag). Quota
  pressure on a 1 s poller needs about 170+ jobs, and then its stall lasts a whole quota
  window: ``--jobs 200 --speed 5 --only orchestrator,docs`` shows it in about a quarter
  of an hour.
- Peak RSS is the VmHWM of each contender's own process: the daemon (with its S3 client,
  SQLite store and logging) against a bare aiohttp script that uploads nothing.
"""
