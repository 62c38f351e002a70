"""Benchmarks: the orchestrator against other tools' polling, side by side (``make bench``).

``python -m bench`` measures two regimes (``--regime default|backlog|all``; ``--quick``
for a smoke run; ``--help`` for every option) and prints a table for each:

- default: N seeded WAV files of noise (8 kHz mono, log-uniform durations), one batch
  inside one quota window at the service's quotas (500 submissions, 2,500 status checks
  per hour): status checks per job, lag between "done on the server" and the first check
  that saw it, 429s, submissions per job, the time from the first submission to the last
  job seen done, CPU per job, peak RSS, and the ratios baseline/orchestrator. Raw results:
  ``bench/results/latest.json``.
- backlog: a backlog several submission windows deep (175 silent Ogg Opus recordings of
  5-60 minutes, 3.5 windows of 50 submissions), once at the service's 5:1 ratio of status
  checks to submissions and once at a tight 1.5:1, with log-normal processing noise
  (sigma 0.25) and a service that processes 20 operations at once (the rest queue). Per
  contender: the share of the submission quota used in the steady windows, the makespan
  against the physical limit, checks per job, lag p50/p95 in seconds and as a share of
  each job's processing time, 429s, jobs given up, CPU per job, peak RSS (see
  :mod:`bench.backlog` for each definition). Raw results ``bench/results/backlog.json``,
  chart ``bench/results/backlog.png`` (and wherever ``--chart`` says).

Fairness, and what the figures do not say:

- One clock: the emulator runs ``speed`` times faster than the service; its quota window
  is 3600/speed s (one service hour); every contender's intervals (the baselines'
  schedules and backoffs, the daemon's polling, retry and quota settings) are divided by
  ``speed``. Times are reported in service time (wall x speed).
- Every contender gets a fresh S3 server (moto) and a fresh emulator with the same speed,
  seed and quotas; every figure but CPU and RSS comes from the emulator's counters
  (``/_emulator/stats``), never from the contender.
- The contenders: the real daemon (``python -m orchestrator run --until-idle``, driven only
  by its CLI and YAML config), and ``python -m bench.poller`` for the baselines (plain
  aiohttp: one submitter sends the files in order as fast as answers come, then each
  operation is checked on the tool's schedule from its own source, see
  :mod:`bench.schedules`). Baselines retry a 429 after its Retry-After, or without one
  after an exponential backoff with full jitter (the real tools would mostly crash). The
  emulator sends Retry-After in whole seconds of its own clock, at least 1: a throttled
  client waits up to ``speed`` service seconds too long, the daemon as much as the
  baselines.
- In the default regime every contender runs alone. In the backlog regime the
  orchestrator runs alone, then the baselines side by side, each against its own
  services (``--serial``: each alone): they sleep nearly all the time, and it halves the
  bench's wall time, which buys a slower clock (x100) and so a daemon asked for the job
  rate of the issue's own measurement, not several times more.
- A sped-up clock magnifies the contender's own latency: a millisecond of the daemon's
  bookkeeping is 0.1 service second at x100. The backlog's recordings last minutes so
  that this stays a small share of their processing; a quiet machine or a lower
  ``--backlog-speed`` (longer runs) makes it smaller still.
- The orchestrator uploads its files itself (WAV header stripped) and that time is in its
  figures when it overlaps its submissions; the baselines' audio is uploaded by the bench
  before they start, untimed. The daemon also fetches and writes four transcript files
  per job, the baselines nothing: that is in its CPU and RSS.
- A fixed-interval poller asks for jobs x speed / interval requests per wall second. Past
  what this machine serves (about a thousand a second on two cores), it polls less often
  than the tool would: the default regime's report flags it (understated checks,
  overstated lag).
- CPU per job is the user+sys time of the contender's process tree, from the kernel when
  the bench reaps it (``wait4``); peak RSS is its VmHWM, sampled from /proc.
"""
