"""When to poll an operation (sans-I/O): learn how long recognition takes, poll once, on time.

The physical limit is one status check per job, made the moment the job is done. We aim
at it by polling first at ``submitted_at + r * audio_seconds`` where ``r`` (processing
seconds per audio second, all channels) is learned per (API, model), and, for the few
jobs not done by then, at short intervals that grow up to a cap.

Why the estimator is a stochastic-approximation quantile tracker, not a window of ratios:
every observation is censored. A job found done at its first poll was done at some time
in ``(submitted_at, first_poll]``; we never learn how early. A windowed quantile of upper
bounds therefore never goes below the value we poll at (if the service gets faster we
would keep waiting too long), and a windowed quantile of midpoints halves itself whenever
most first polls succeed, then overshoots back. What we actually want is that the first
poll finds the job done with probability ``q`` (0.9): each first poll is a yes/no answer
to "was the ratio <= r?", and the Robbins-Monro update of the pinball (quantile) loss,

    r <- r * exp(-eta * (1 - q))   when the job's interval lies below r (done early)
    r <- r * exp(+eta * q)          when it lies above r (the estimate was too short)

has exactly that as its fixed point. It works in log space (ratios are positive and
errors are multiplicative) and compares each interval with the CURRENT estimate, so a
crowd of stale observations from jobs submitted together cannot ratchet it without bound.
An interval that straddles the estimate moves it by the expected gradient instead of a
guess: a job found done at a first poll that came late (scheduled under an older, higher
estimate, or delayed by the quota) is, by our own belief, below r with probability q, so
it is no news; a job seen running before r and done after it moves r by how much of the
interval lies above. The step starts large and decays to a floor, so it converges in a few
dozen jobs yet keeps tracking a service whose speed drifts. Two asymmetries are corrected:
a job still running far past the estimate makes it jump towards that job's lower bound
(capped), and a long run of early finishes accelerates the (otherwise nine times slower)
descent, because such a run is improbable if the estimate were right.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.core.constants import DEFERRED_MODELS, PROCESSING_S_PER_AUDIO_S
from orchestrator.core.schedule import plan_checks

EstimatorKey = tuple[str, str]
"""(api, model), e.g. ("v2", "general")."""


# Below one audio second a ratio is mostly the service's fixed overhead, not speed.
_MIN_AUDIO_S = 1.0
# Ratios are clamped to a sane range so one absurd observation cannot wreck the estimate.
_MIN_RATIO = 1e-4
_MAX_RATIO = 1e3
_SERIAL_VERSION = 1
# Exact observations: how many recent ones are kept, and how many make a quantile.
EXACT_WINDOW = 200
EXACT_MIN = 5


@dataclass(frozen=True)
class PollingPolicy:
    """How polls are spaced once the estimated completion time has passed."""

    growth: float = 1.5
    min_interval_s: float = 1.0
    max_interval_s: float = 120.0
    deferred_max_interval_s: float = 1800.0
    quantile: float = 0.9
    # The first re-poll after a miss waits this fraction of the job's expected duration:
    # a missed estimate is usually a small miss.
    first_retry_fraction: float = 0.1

    def __post_init__(self) -> None:
        if self.growth < 1.0:
            raise ValueError(f"polling growth must be >= 1, got {self.growth}")
        if not 0 < self.min_interval_s <= self.max_interval_s <= self.deferred_max_interval_s:
            raise ValueError(
                "polling intervals must satisfy 0 < min_interval_s <= max_interval_s"
                " <= deferred_max_interval_s"
            )
        if not 0.0 < self.quantile < 1.0:
            raise ValueError(f"polling quantile must be in (0, 1), got {self.quantile}")
        if self.first_retry_fraction <= 0:
            raise ValueError("first_retry_fraction must be positive")

    def max_interval_for(self, key: EstimatorKey) -> float:
        """The interval cap for a key: longer for deferred models (they may take a day)."""
        return self.deferred_max_interval_s if is_deferred(key[1]) else self.max_interval_s


def is_deferred(model: str) -> bool:
    """True for the low-priority models that may take up to 24 hours."""
    return model in DEFERRED_MODELS or model.startswith("deferred-")


@dataclass
class _KeyState:
    ratio: float
    observations: int = 0
    # Consecutive observations that finished before the estimate (see ``observe``).
    early_run: int = 0
    # Recent exact ratios, when the service said when it finished (``observe_exact``).
    exact: list[float] = field(default_factory=list)
    # The check schedule planned from ``exact`` (not stored: planned again when needed).
    plan: tuple[float, ...] = ()
    planned_at: int = -1  # ``observations`` when it was planned
    planned_for: float = 0.0  # the budget it was planned for


class CompletionEstimator:
    """Learns ``r`` (processing seconds per audio second) per (api, model), online.

    ``ratio(key)`` is the current estimate of the ``quantile``-th quantile of ``r``; call
    ``observe`` when an operation is found done. Serialisable with ``to_dict``/``from_dict``.
    """

    def __init__(
        self,
        *,
        quantile: float = 0.9,
        initial_ratio: float = PROCESSING_S_PER_AUDIO_S,
        step: float = 1.0,
        min_step: float = 0.25,
        step_halflife: int = 10,
        max_jump: float = 4.0,
        tail_spread: float = 0.5,
    ) -> None:
        if not 0.0 < quantile < 1.0:
            raise ValueError(f"quantile must be in (0, 1), got {quantile}")
        if not _MIN_RATIO <= initial_ratio <= _MAX_RATIO:
            raise ValueError(f"initial_ratio must be in [{_MIN_RATIO}, {_MAX_RATIO}]")
        if not 0 < min_step <= step or step_halflife < 1 or max_jump < 1 or tail_spread <= 0:
            raise ValueError("estimator step settings out of range")
        self.quantile = quantile
        self.initial_ratio = initial_ratio
        self.step = step
        self.min_step = min_step
        self.step_halflife = step_halflife
        self.max_jump = max_jump
        self.tail_spread = tail_spread
        self._states: dict[EstimatorKey, _KeyState] = {}

    def ratio(self, key: EstimatorKey) -> float:
        """The current estimate for ``key`` (the initial ratio until it has observations)."""
        state = self._states.get(key)
        return self.initial_ratio if state is None else state.ratio

    def observations(self, key: EstimatorKey) -> int:
        """How many finished operations have informed ``key``."""
        state = self._states.get(key)
        return 0 if state is None else state.observations

    def schedule(self, key: EstimatorKey, budget: float) -> tuple[float, ...]:
        """The check times (ratios, ascending) that minimise the expected lag for ``budget``
        checks per job (see ``core.schedule``); empty until enough exact observations.

        Planned again as observations come in, not after each one: a sample of a few
        hundred changes slowly, and planning costs tens of milliseconds.
        """
        state = self._states.get(key)
        if state is None or len(state.exact) < EXACT_MIN:
            return ()
        since = state.observations - state.planned_at
        if state.planned_for != budget or since >= max(5, min(50, len(state.exact) // 4)):
            state.plan = plan_checks(state.exact, budget)
            state.planned_at, state.planned_for = state.observations, budget
        return state.plan

    def keys(self) -> list[EstimatorKey]:
        """The keys with state, sorted."""
        return sorted(self._states)

    def _eta(self, observations: int) -> float:
        # Robbins-Monro: large steps while little is known, then a floor to keep tracking.
        return max(self.min_step, self.step / (1.0 + observations / self.step_halflife))

    def observe(
        self,
        key: EstimatorKey,
        *,
        submitted_at: float,
        audio_s: float,
        last_not_done_at: float | None,
        done_at: float,
    ) -> None:
        """Record a finished operation: done some time in ``(last_not_done_at, done_at]``.

        ``last_not_done_at`` is the last poll that found it running (None: the first poll
        found it done, so all we know is that it finished after ``submitted_at``);
        ``done_at`` is the poll that found it done; ``audio_s`` counts all channels.
        """
        audio = max(audio_s, _MIN_AUDIO_S)
        lower_t = submitted_at if last_not_done_at is None else max(last_not_done_at, submitted_at)
        lo = max(0.0, (lower_t - submitted_at) / audio)
        hi = max(lo, (done_at - submitted_at) / audio)
        state = self._states.setdefault(key, _KeyState(self.initial_ratio))
        r = state.ratio
        eta = self._eta(state.observations)
        q = self.quantile
        if lo >= r:
            # The job outran the estimate: step up, and jump towards its lower bound when
            # that is far above (bounded, so one straggler cannot dominate).
            state.early_run = 0
            new = max(r * math.exp(eta * q), min(lo, r * self.max_jump))
        elif hi <= r or last_not_done_at is None:
            # Done by hi. If hi <= r that says "below r": the plain quantile step down.
            # If hi > r (a first poll scheduled under an older, higher estimate, or delayed
            # by the quota), our own belief says it finished below r with probability
            # q / F(hi), F rising from q at r to 1 at r * (1 + tail_spread); the expected
            # gradient q * (1 - 1 / F(hi)) fades from the full step to no news at all.
            f_hi = q + (1.0 - q) * min(1.0, max(0.0, (hi - r) / (r * self.tail_spread)))
            gradient = q * (1.0 - 1.0 / f_hi)
            if gradient < 0:
                # A long run of early finishes is unlikely (q ** run) if r were right: the
                # service got faster. Accelerate past twice the expected run length, as
                # plain quantile steps go down (1 - q) / q times slower than they go up.
                state.early_run += 1
                gradient *= max(1.0, state.early_run * (1.0 - q) / 2.0)
            new = r * math.exp(eta * gradient)
        else:
            # Not done at lo < r, done by hi > r: step by the expected gradient, taking the
            # finish time as uniform over the interval.
            above = (hi - r) / (hi - lo)
            new = r * math.exp(eta * (q * above - (1.0 - q) * (1.0 - above)))
        state.ratio = min(_MAX_RATIO, max(_MIN_RATIO, new))
        state.observations += 1

    def observe_exact(self, key: EstimatorKey, *, audio_s: float, processing_s: float) -> None:
        """Record a finished operation whose processing time is known exactly.

        The service's Operation carries ``createdAt`` and ``modifiedAt`` (its finish time,
        on its own clock): no censoring, so the estimate is simply the ``quantile`` of the
        recent ratios, once there are a few; until then the tracker above moves towards it.
        """
        if processing_s < 0 or not math.isfinite(processing_s):
            return
        audio = max(audio_s, _MIN_AUDIO_S)
        ratio = min(_MAX_RATIO, max(_MIN_RATIO, processing_s / audio))
        state = self._states.setdefault(key, _KeyState(self.initial_ratio))
        state.exact.append(ratio)
        del state.exact[:-EXACT_WINDOW]
        state.observations += 1
        if len(state.exact) >= EXACT_MIN:
            state.ratio = _upper_quantile(state.exact, self.quantile)
        else:
            # Too few to trust a quantile: move halfway (in log space) towards the largest.
            state.ratio = math.sqrt(state.ratio * max(state.exact))

    def key_state(self, key: EstimatorKey) -> dict[str, Any] | None:
        """What was learned for one key, JSON-ready (None: nothing yet): stored per key, so
        that daemons sharing a store each merge their observations into it."""
        state = self._states.get(key)
        if state is None:
            return None
        return {
            "ratio": state.ratio,
            "observations": state.observations,
            "early_run": state.early_run,
            "exact": list(state.exact),
        }

    def load_key_state(self, key: EstimatorKey, data: Mapping[str, Any]) -> None:
        """Take ``key_state`` output as what is known of ``key``; ValueError if it is not."""
        try:
            ratio = float(data["ratio"])
            if not (math.isfinite(ratio) and _MIN_RATIO <= ratio <= _MAX_RATIO):
                raise ValueError(f"estimator ratio out of range: {ratio!r}")
            exact = [float(r) for r in data.get("exact", [])]
            state = _KeyState(
                ratio=ratio,
                observations=int(data["observations"]),
                early_run=int(data.get("early_run", 0)),
                exact=[r for r in exact if math.isfinite(r) and _MIN_RATIO <= r <= _MAX_RATIO][
                    -EXACT_WINDOW:
                ],
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not an estimator key state: {exc}") from exc
        old = self._states.get(key)
        if old is not None and state.observations - old.planned_at >= 0:
            # The same key moved on (merged from the store after each observation): keep
            # its plan, planned again on the usual cadence rather than at every merge.
            state.plan, state.planned_at, state.planned_for = (
                old.plan,
                old.planned_at,
                old.planned_for,
            )
        self._states[key] = state

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot (settings and per-key state) for the store."""
        return {
            "version": _SERIAL_VERSION,
            "quantile": self.quantile,
            "initial_ratio": self.initial_ratio,
            "step": self.step,
            "min_step": self.min_step,
            "step_halflife": self.step_halflife,
            "max_jump": self.max_jump,
            "tail_spread": self.tail_spread,
            "keys": [
                {
                    "api": api,
                    "model": model,
                    "ratio": self._states[(api, model)].ratio,
                    "observations": self._states[(api, model)].observations,
                    "early_run": self._states[(api, model)].early_run,
                    "exact": list(self._states[(api, model)].exact),
                }
                for api, model in self.keys()
            ],
        }

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        quantile: float | None = None,
        initial_ratio: float | None = None,
    ) -> CompletionEstimator:
        """Rebuild from ``to_dict`` output; the keyword arguments override stored settings.

        The overrides come from the config, which may have changed since the snapshot;
        learned ratios are kept.
        """
        if data.get("version") != _SERIAL_VERSION:
            raise ValueError(f"unsupported estimator snapshot version {data.get('version')!r}")
        est = cls(
            quantile=float(data["quantile"]) if quantile is None else quantile,
            initial_ratio=float(data["initial_ratio"]) if initial_ratio is None else initial_ratio,
            step=float(data["step"]),
            min_step=float(data["min_step"]),
            step_halflife=int(data["step_halflife"]),
            max_jump=float(data["max_jump"]),
            tail_spread=float(data.get("tail_spread", 0.5)),
        )
        for entry in data.get("keys", []):
            est.load_key_state((str(entry["api"]), str(entry["model"])), entry)
        return est


def processing_estimate(
    service_s: float,
    resolution_s: float,
    *,
    not_done_after_s: float | None,
    done_by_s: float,
) -> float:
    """The processing time to learn from a finished operation, in seconds.

    ``service_s`` is ``modifiedAt - createdAt``. Those timestamps have whole-second
    resolution at the real service (``resolution_s``), so the time itself lies within
    ``service_s`` plus or minus one resolution. Our own checks bound it too: done after the
    last check that found it running (``not_done_after_s`` from the submission, if any)
    and by the check that found it done (``done_by_s``). The estimate is the middle of the
    interval both agree on (the service's alone, if they disagree: its clock is not ours).

    Why the middle, fed to ``observe_exact``, rather than the interval to the censored
    ``observe``: the quantile of recent midpoints is a steadier estimate than the
    stochastic tracker. In a seeded simulation (log-normal noise 0.25, whole-second
    timestamps, 400 jobs, 5 seeds) both found 90% of jobs done at the first check, and the
    midpoints cut the median lag of those checks by 14%: 1.06 s against 1.26 s for 3-30 s
    clips, 8.0 s against 9.3 s for 20-240 s files, 134 s against 154 s for 10-60 min. The
    raw difference alone (no narrowing by our checks) overshot to 94% on short clips.
    """
    low = max(0.0, service_s - resolution_s)
    high = service_s + resolution_s
    narrow_low = low if not_done_after_s is None else max(low, not_done_after_s)
    narrow_high = min(high, done_by_s)
    if narrow_low <= narrow_high:
        low, high = narrow_low, narrow_high
    return (low + high) / 2.0


def _upper_quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of a small sample, rounded up to an order statistic: erring late
    costs lag, erring early costs a status check."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q * (len(ordered) + 1)) - 1))
    return ordered[index]


def expected_duration(audio_s: float, estimator: CompletionEstimator, key: EstimatorKey) -> float:
    """The estimated processing time of ``audio_s`` seconds of audio (all channels)."""
    return estimator.ratio(key) * max(audio_s, 0.0)


def first_poll_at(
    submitted_at: float,
    audio_s: float,
    estimator: CompletionEstimator,
    key: EstimatorKey,
    budget: float | None = None,
) -> float:
    """The first status check: the first of the schedule planned for ``budget`` checks per
    job, or (without a budget, or before the schedule can be planned) at the estimated
    completion time."""
    plan = estimator.schedule(key, budget) if budget is not None else ()
    if plan:
        return submitted_at + plan[0] * max(audio_s, 0.0)
    return submitted_at + expected_duration(audio_s, estimator, key)


def next_poll_at(
    submitted_at: float,
    last_poll_at: float,
    polls_so_far: int,
    audio_s: float,
    estimator: CompletionEstimator,
    key: EstimatorKey,
    policy: PollingPolicy,
    budget: float | None = None,
) -> float:
    """The next status check after ``polls_so_far`` (>= 1) polls found the job running.

    With a planned schedule, its next check after the last one. Past it (or without one),
    intervals start at a fraction of the expected duration (at least ``min_interval_s``)
    and grow by ``growth`` per poll up to the cap for the model. If the estimate has since
    grown past the last poll (it learned the service is slower), wait for it instead.
    """
    plan = estimator.schedule(key, budget) if budget is not None else ()
    audio = max(audio_s, 0.0)
    for ratio in plan[polls_so_far:]:
        when = submitted_at + ratio * audio
        if when >= last_poll_at + policy.min_interval_s:
            return when
    beyond = polls_so_far - len(plan) if plan else polls_so_far
    expected = expected_duration(audio_s, estimator, key)
    first = max(policy.min_interval_s, policy.first_retry_fraction * expected)
    cap = policy.max_interval_for(key)
    # Exponent capped: beyond it the interval is at the cap anyway; avoids overflow.
    exponent = min(max(0, beyond - 1), 200)
    interval = min(cap, max(policy.min_interval_s, first * policy.growth**exponent))
    if plan:
        return last_poll_at + interval
    return max(last_poll_at + interval, submitted_at + expected)
