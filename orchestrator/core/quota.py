"""Sliding-window quota ledger: pure decisions over the timestamps the store keeps.

A quota is ``limit`` requests per ``window_s`` seconds, in EVERY sliding window, not per
fixed hour: the service does not say which it counts, so we stay under both. A token bucket
that starts full (aiolimiter's flaw) lets a burst of ``limit`` through at the end of one
window and another at the start of the next, i.e. twice the quota inside one window; a
ledger of real spend times cannot do that.

Conventions, used consistently so that what ``next_allowed`` promises ``grant`` keeps:

* A request spent at ``s`` occupies the half-open interval ``[s, s + window_s)``; it
  stops counting at exactly ``s + window_s`` (computed as that float sum, never as
  ``now - window_s``, so there is no rounding disagreement at the boundary).
* Spend times later than ``now`` (another daemon's clock a little ahead) count in full
  until they expire; that is conservative.

Nothing here reads a clock: every function takes ``now``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# The quotas more than one API spends, by name (each API declares the quotas it spends,
# these included: see ``core.apis.QuotaDecl``).
SUBMIT_QUOTA = "submit"  # recognition requests, shared by the asynchronous APIs
AUDIO_QUOTA = "audio"  # billable audio seconds per day, counted in amounts
# The quotas counted in amounts (seconds of audio), not in requests.
AMOUNT_QUOTAS = frozenset({AUDIO_QUOTA})
# A quota paused after a 429 waits at least this long.
MIN_PAUSE_S = 1.0

# floor(limit * (1 - margin)) must not lose a whole unit to 48.99999999 style rounding.
_FLOOR_EPSILON = 1e-9


@dataclass(frozen=True)
class QuotaSpec:
    """``limit`` units per sliding ``window_s`` seconds, keeping a ``margin`` fraction unused."""

    limit: int
    window_s: float
    margin: float = 0.0

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError(f"quota limit must be at least 1, got {self.limit}")
        if not (self.window_s > 0 and math.isfinite(self.window_s)):
            raise ValueError(
                f"quota window must be a positive number of seconds, got {self.window_s}"
            )
        if not 0.0 <= self.margin < 1.0:
            raise ValueError(f"quota safety margin must be in [0, 1), got {self.margin}")

    @property
    def effective_limit(self) -> int:
        """The limit we actually allow ourselves: ``floor(limit * (1 - margin))``, at least 1."""
        return max(1, math.floor(self.limit * (1.0 - self.margin) + _FLOOR_EPSILON))


def _live(spent: Iterable[float], spec: QuotaSpec, now: float) -> list[float]:
    """The spend times still counting at ``now``, oldest first."""
    return sorted(s for s in spent if s + spec.window_s > now)


def _effective_pause(paused_until: float | None, now: float) -> float:
    return now if paused_until is None else max(now, paused_until)


def next_allowed(
    spent: Sequence[float], spec: QuotaSpec, now: float, *, paused_until: float | None = None
) -> float:
    """The earliest time ``>= now`` at which one more request keeps every window within quota.

    ``spent`` holds the spend times (any order; expired ones are ignored). ``paused_until``
    is a deadline set after a 429 (see ``pause_after_429``); nothing is allowed before it.
    """
    live = _live(spent, spec, now)
    limit = spec.effective_limit
    earliest = now
    if len(live) >= limit:
        # One more request needs at most limit-1 others live: the oldest len-limit+1 of
        # them must have expired, i.e. the (len-limit)th oldest one.
        earliest = max(now, live[len(live) - limit] + spec.window_s)
    return max(earliest, _effective_pause(paused_until, now))


def grant(
    spent: Sequence[float],
    spec: QuotaSpec,
    now: float,
    wanted: int,
    *,
    paused_until: float | None = None,
) -> int:
    """How many of ``wanted`` requests may be spent at ``now`` (0 while paused)."""
    if wanted <= 0 or (paused_until is not None and now < paused_until):
        return 0
    _, left = usage(spent, spec, now)
    return min(wanted, left)


def usage(spent: Sequence[float], spec: QuotaSpec, now: float) -> tuple[int, int]:
    """``(used, left)`` in the window ending at ``now``, against the effective limit."""
    used = len(_live(spent, spec, now))
    return used, max(0, spec.effective_limit - used)


def prune_before(spec: QuotaSpec, now: float) -> float:
    """Spend times strictly older than this no longer count at ``now`` or later.

    The store may delete them (``DELETE ... WHERE spent_at < cutoff``). One extra window of
    slack keeps a rounding hair or a clock step backwards from forgetting a live entry.
    """
    return now - 2.0 * spec.window_s


@dataclass(frozen=True)
class QuotaUsage:
    """One quota as of a moment: ``used`` and ``left`` in its sliding window (requests, or
    audio seconds for the daily audio quota), and the end of a pause after a 429."""

    name: str
    used: float
    left: float
    window_s: float
    paused_until: float | None = None

    @property
    def limit(self) -> float:
        """What the window allows in all (the effective limit: the margin kept out)."""
        return self.used + self.left

    def pause_left(self, now: float) -> float:
        """Seconds left of the pause at ``now`` (0 when there is none)."""
        return 0.0 if self.paused_until is None else max(0.0, self.paused_until - now)


@dataclass(frozen=True)
class Pause:
    """A quota paused after a 429 until ``until``; ``strikes`` counts the 429s in a row."""

    until: float
    strikes: int = 1


def strike_backoff(strikes: int, base_s: float, max_s: float) -> float:
    """The pause after the ``strikes``-th 429 in a row: ``base_s`` doubled each time, capped
    at ``max_s``, at least ``MIN_PAUSE_S``. No jitter: every daemon reads the one deadline
    in the store, so there is no crowd to spread."""
    exponent = min(max(0, strikes - 1), 60)
    return max(MIN_PAUSE_S, min(max_s, base_s * 2.0**exponent))


def pause_after_429(
    now: float,
    *,
    current: Pause | None,
    retry_after_s: float | None,
    base_s: float,
    max_s: float,
    memory_s: float,
) -> Pause:
    """The quota's pause after one more 429: the server's Retry-After when it sent one (no
    Yandex page promises it), else a backoff growing with each 429 in a row.

    A 429 that comes while the quota is paused answers a request sent before the pause (a
    burst in flight): the same trouble, already paused for, so it adds no strike. One that
    comes after the pause ended is "in a row" with the last when it comes less than
    ``memory_s`` (the quota's window, say) or the last pause's own length after; a quota
    that has been served longer than that starts again from ``base_s``. A pause never
    shortens one still in force.
    """
    has_retry_after = retry_after_s is not None and retry_after_s > 0
    if current is not None and now < current.until:
        if retry_after_s is not None and has_retry_after:
            return Pause(max(current.until, now + retry_after_s), current.strikes)
        return current
    strikes = 1
    if current is not None:
        remembered = max(memory_s, strike_backoff(current.strikes, base_s, max_s))
        if now < current.until + remembered:
            strikes = current.strikes + 1
    if retry_after_s is not None and has_retry_after:
        wait = retry_after_s
    else:
        wait = strike_backoff(strikes, base_s, max_s)
    return Pause(now + wait, strikes)


# --- Weighted quotas (audio hours per day): each entry spends an amount, not one unit. ---


def _live_weighted(
    spent: Iterable[tuple[float, float]], spec: QuotaSpec, now: float
) -> list[tuple[float, float]]:
    return sorted((s, w) for s, w in spent if s + spec.window_s > now)


def next_allowed_amount(
    spent: Sequence[tuple[float, float]],
    spec: QuotaSpec,
    now: float,
    amount: float,
    *,
    paused_until: float | None = None,
) -> float:
    """Like ``next_allowed`` for a quota counted in amounts (``spent`` is ``(time, amount)``).

    Raises ``ValueError`` when ``amount`` alone exceeds the effective limit: it would
    never be allowed, and waiting forever would hide that.
    """
    limit = spec.effective_limit
    if amount > limit:
        raise ValueError(f"amount {amount} exceeds the quota's effective limit {limit}")
    live = _live_weighted(spent, spec, now)
    total = math.fsum(w for _, w in live)
    earliest = now
    # Expire the oldest entries one by one until the new amount fits.
    for s, w in live:
        if total + amount <= limit:
            break
        total -= w
        earliest = max(earliest, s + spec.window_s)
    return max(earliest, _effective_pause(paused_until, now))


def fit_amounts(
    spent: Sequence[tuple[float, float]],
    spec: QuotaSpec,
    now: float,
    amounts: Sequence[float],
    *,
    paused_until: float | None = None,
) -> tuple[int, float | None]:
    """How many of ``amounts`` (in order) may be charged at ``now``, and, when not all of
    them, the time the first one left out would fit.

    An amount larger than the whole effective limit can never fit: it is let through
    uncharged (counted among those granted) so that it does not hold up the others; the
    caller refuses that request itself.
    """
    if paused_until is not None and now < paused_until:
        return (0, paused_until) if amounts else (0, None)
    limit = spec.effective_limit
    taken = [*spent]
    for index, amount in enumerate(amounts):
        if amount <= 0 or amount > limit:
            continue
        when = next_allowed_amount(taken, spec, now, amount)
        if when > now:
            return index, when
        taken.append((now, amount))
    return len(amounts), None


def usage_amount(
    spent: Sequence[tuple[float, float]], spec: QuotaSpec, now: float
) -> tuple[float, float]:
    """``(used, left)`` of a weighted quota in the window ending at ``now``."""
    used = math.fsum(w for _, w in _live_weighted(spent, spec, now))
    return used, max(0.0, spec.effective_limit - used)
