"""A schedule that learns: an online duration model and the check times it implies.

Durations are modelled as lognormal per job class (kind + assistant or model). What a check
sees is interval-censored: the job finished somewhere between the last check that saw it
running and the first that saw it done; a job that never finished is right-censored. The fit
is a maximum-likelihood estimate for such intervals (EM on the log scale: each interval is
replaced by the conditional moments of a truncated normal), over a bounded window of recent
observations plus a weak prior, so memory stays constant however many jobs pass.

From the fitted distribution, ``optimal_schedule`` computes by dynamic programming the check
ages that minimise ``E[checks] + lag_weight × E[detection lag]`` (DESIGN.md §5). Everything
here is pure: no clock, no I/O.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass

__all__ = ["DurationModel", "Schedule", "fit_lognormal", "optimal_schedule"]

_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)


def _phi(z: float) -> float:
    return math.exp(-0.5 * z * z) / _SQRT2PI


def _Phi(z: float) -> float:
    return 0.5 * math.erfc(-z / _SQRT2)


def _truncated_moments(mu: float, sigma: float, lo: float, hi: float) -> tuple[float, float]:
    """E[X] and E[X²] of N(mu, sigma²) restricted to [lo, hi] (log scale; ±inf allowed)."""
    a = (lo - mu) / sigma if lo > -math.inf else -math.inf
    b = (hi - mu) / sigma if hi < math.inf else math.inf
    pa, pb = (_phi(a) if a > -math.inf else 0.0), (_phi(b) if b < math.inf else 0.0)
    mass = (_Phi(b) if b < math.inf else 1.0) - (_Phi(a) if a > -math.inf else 0.0)
    if mass < 1e-12:  # the interval is far in a tail: its midpoint (or edge) is all we know
        x = hi if lo == -math.inf else lo if hi == math.inf else 0.5 * (lo + hi)
        return x, x * x
    apa = a * pa if a > -math.inf else 0.0
    bpb = b * pb if b < math.inf else 0.0
    mean_z = (pa - pb) / mass
    second_z = 1.0 + (apa - bpb) / mass
    mean = mu + sigma * mean_z
    return mean, mu * mu + 2 * mu * sigma * mean_z + sigma * sigma * second_z


def fit_lognormal(
    intervals: list[tuple[float, float]],
    prior_mu: float,
    prior_sigma: float,
    prior_weight: float,
    iterations: int = 25,
    start: tuple[float, float] | None = None,
) -> tuple[float, float]:
    """(mu, sigma) of log-durations from ``(lo_s, hi_s)`` intervals (``hi_s`` may be inf).

    The prior acts as ``prior_weight`` exact observations spread as N(prior_mu, prior_sigma).
    """
    logs = [
        (
            math.log(max(lo, 1e-3)) if lo > 0 else -math.inf,
            math.log(hi) if hi < math.inf else math.inf,
        )
        for lo, hi in intervals
    ]
    mu, sigma = start if start is not None else (prior_mu, prior_sigma)
    n = len(logs) + prior_weight
    for _ in range(iterations):
        s1 = prior_weight * prior_mu
        s2 = prior_weight * (prior_sigma**2 + prior_mu**2)
        for lo, hi in logs:
            m1, m2 = _truncated_moments(mu, sigma, lo, hi)
            s1 += m1
            s2 += m2
        new_mu = s1 / n
        new_sigma = math.sqrt(max(s2 / n - new_mu * new_mu, 1e-4))
        done = abs(new_mu - mu) < 1e-5 and abs(new_sigma - sigma) < 1e-5
        mu, sigma = new_mu, min(max(new_sigma, 0.05), 3.0)
        if done:
            break
    return mu, sigma


@dataclass(frozen=True, slots=True)
class Schedule:
    """Optimal check ages for one distribution: after a check at ``ages[i]`` that saw the
    job running, the next check is at ``ages[following[i]]``."""

    ages: tuple[float, ...]
    following: tuple[int, ...]

    def next_age(self, age_s: float) -> float:
        """Age of the next check, given the last one (or creation) at ``age_s``."""
        i = max(0, bisect.bisect_right(self.ages, age_s + 1e-9) - 1)
        nxt = self.ages[self.following[i]]
        if nxt - age_s < 0.03 * age_s and self.following[i] < len(self.ages) - 1:
            # The check came a hair before a planned age (jitter, an early wake-up): it was
            # that planned check, so the next one is the plan's step after it.
            nxt = self.ages[self.following[self.following[i]]]
        if nxt <= age_s:  # past the grid: keep the last step's proportion
            last = self.ages[-1]
            prev = self.ages[self.following[-2]] if len(self.ages) > 1 else last
            return age_s * max(1.05, last / max(prev, 1e-9))
        return nxt


def optimal_schedule(
    mu: float, sigma: float, lag_weight: float, *, min_interval_s: float = 0.1, points: int = 120
) -> Schedule:
    """Check ages minimising E[checks] + lag_weight × E[lag] for LogNormal(mu, sigma).

    Backward induction over a log-spaced grid of ages. With S the survival function and PE
    the partial expectation E[D; D <= t], the cost of going from a check at g_i to one at
    g_j, scaled by S(g_i), is S(g_i) + λ·(g_j·(F_j - F_i) - (PE_j - PE_i)) + W_j, where
    W_j = S(g_j)·V(g_j) is the scaled cost-to-go.
    """
    lo = math.exp(mu - 4.0 * sigma)
    hi = math.exp(mu + 4.5 * sigma)
    grid = [0.0] + [lo * (hi / lo) ** (k / (points - 1)) for k in range(points)]
    mean_factor = math.exp(mu + 0.5 * sigma * sigma)

    def cdf(t: float) -> float:
        return 0.0 if t <= 0 else _Phi((math.log(t) - mu) / sigma)

    def partial(t: float) -> float:
        return 0.0 if t <= 0 else mean_factor * _Phi((math.log(t) - mu - sigma * sigma) / sigma)

    F = [cdf(g) for g in grid]
    PE = [partial(g) for g in grid]
    n = len(grid)
    W = [0.0] * n
    following = [n - 1] * n
    # Beyond the grid (S < 4e-6) the remaining cost is negligible; one more check closes it.
    W[-1] = 1.0 - F[-1]
    for i in range(n - 2, -1, -1):
        s_i = 1.0 - F[i]
        best, best_j = math.inf, n - 1
        for j in range(i + 1, n):
            if grid[j] - grid[i] < min_interval_s and j < n - 1:
                continue
            cost = s_i + lag_weight * (grid[j] * (F[j] - F[i]) - (PE[j] - PE[i])) + W[j]
            if cost < best:
                best, best_j = cost, j
        W[i], following[i] = best, best_j
    return Schedule(tuple(grid), tuple(following))


class DurationModel:
    """Online lognormal fit for one job class, from interval-censored observations.

    Keeps the ``window`` most recent observations (constant memory) and refits after every
    ``refit_every`` new ones; ``schedule`` is recomputed only when the fit moved noticeably.
    """

    __slots__ = (
        "_fresh",
        "_intervals",
        "_schedule",
        "lag_weight",
        "min_interval_s",
        "min_observations",
        "mu",
        "observed",
        "prior_mu",
        "prior_sigma",
        "prior_weight",
        "refit_every",
        "sigma",
    )

    def __init__(
        self,
        *,
        prior_median_s: float = 6.0,
        prior_sigma: float = 0.8,
        prior_weight: float = 3.0,
        window: int = 256,
        refit_every: int = 32,
        min_observations: int = 8,
        lag_weight: float = 2.0,
        min_interval_s: float = 0.1,
    ) -> None:
        self.prior_mu = math.log(prior_median_s)
        self.prior_sigma = prior_sigma
        self.prior_weight = prior_weight
        self.mu, self.sigma = self.prior_mu, prior_sigma
        self._intervals: deque[tuple[float, float]] = deque(maxlen=window)
        self.refit_every = refit_every
        self.min_observations = min_observations
        self.lag_weight = lag_weight
        self.min_interval_s = min_interval_s
        self.observed = 0
        self._fresh = 0
        self._schedule: dict[float, Schedule] | None = None  # by lag weight

    @property
    def trained(self) -> bool:
        return self.observed >= self.min_observations

    @property
    def median_s(self) -> float:
        return math.exp(self.mu)

    def observe(self, lo_s: float, hi_s: float = math.inf) -> None:
        """The job ended after ``lo_s`` and no later than ``hi_s`` (inf: still unknown)."""
        if hi_s < lo_s:
            lo_s, hi_s = hi_s, lo_s
        self._intervals.append((max(lo_s, 0.0), hi_s))
        if hi_s < math.inf:
            self.observed += 1
        self._fresh += 1
        if self._fresh >= self.refit_every or (self.observed == self.min_observations):
            self.refit()

    def refit(self) -> None:
        self._fresh = 0
        mu, sigma = fit_lognormal(
            list(self._intervals), self.prior_mu, self.prior_sigma, self.prior_weight
        )
        moved = abs(mu - self.mu) > 0.02 or abs(sigma - self.sigma) > 0.02
        self.mu, self.sigma = mu, sigma
        if moved or self._schedule is None:
            self._schedule = None  # recomputed lazily, at most once per refit

    def cdf(self, t_s: float) -> float:
        return 0.0 if t_s <= 0 else _Phi((math.log(t_s) - self.mu) / self.sigma)

    def chance_done(self, last_s: float, now_s: float) -> float:
        """P(done by ``now_s`` | still running at ``last_s``)."""
        survive = 1.0 - self.cdf(last_s)
        if survive <= 1e-12:
            return 1.0
        return max(0.0, (self.cdf(now_s) - self.cdf(last_s)) / survive)

    def next_age(self, age_s: float, lag_weight: float | None = None) -> float:
        """Age of the next check after one at ``age_s`` (``lag_weight``: override the knob)."""
        weight = self.lag_weight if lag_weight is None else lag_weight
        if self._schedule is None:
            self._schedule = {}
        schedule = self._schedule.get(weight)
        if schedule is None:
            schedule = self._schedule[weight] = optimal_schedule(
                self.mu, self.sigma, weight, min_interval_s=self.min_interval_s
            )
        return schedule.next_age(age_s)
