"""A schedule that learns: an online duration model per job class, and its check times.

What a check sees is interval-censored: the job finished somewhere between the last check
that saw it running and the first that saw it done; a job still running is right-censored.
``DurationModel`` keeps a bounded window of such observations (constant memory however many
jobs pass) and estimates the distribution nonparametrically (``_survival``: Turnbull's EM on
a log grid, with a prior), so a mixture of short and long jobs is what it fits, not one
lognormal; its schedule is ``_survival``'s DP over that estimate.

The lognormal pieces stay here as plain numbers with closed forms: ``fit_lognormal`` (EM on
the log scale: each interval replaced by the conditional moments of a truncated normal) and
``optimal_schedule`` (the DP of DESIGN.md §5 for a known lognormal), for tests and
benchmarks. Everything here is pure: no clock, no I/O.
"""

from __future__ import annotations

import bisect
import math
from collections import deque

from ._survival import (
    EDGES,
    Component,
    Schedule,
    cdf_at,
    cumulative_of,
    finished_bins,
    fit_mixture,
    fit_turnbull,
    lognormal_prior,
    mixture_prior,
)
from ._survival import optimal_schedule as survival_schedule

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
    weights: list[float] | None = None,
    fixed_sigma: float | None = None,
) -> tuple[float, float]:
    """(mu, sigma) of log-durations from ``(lo_s, hi_s)`` intervals (``hi_s`` may be inf),
    each counted ``weights[i]`` times (default once); ``fixed_sigma``: sigma is held there
    and only mu is fitted.

    The prior acts as ``prior_weight`` exact observations spread as N(prior_mu, prior_sigma).
    """
    w = weights if weights is not None else [1.0] * len(intervals)
    logs = [
        (
            math.log(max(lo, 1e-3)) if lo > 0 else -math.inf,
            math.log(hi) if hi < math.inf else math.inf,
        )
        for lo, hi in intervals
    ]
    mu, sigma = start if start is not None else (prior_mu, prior_sigma)
    if fixed_sigma is not None:
        sigma = fixed_sigma
    n = sum(w) + prior_weight
    for _ in range(iterations):
        s1 = prior_weight * prior_mu
        s2 = prior_weight * (prior_sigma**2 + prior_mu**2)
        for (lo, hi), wi in zip(logs, w, strict=True):
            m1, m2 = _truncated_moments(mu, sigma, lo, hi)
            s1 += wi * m1
            s2 += wi * m2
        new_mu = s1 / n
        new_sigma = math.sqrt(max(s2 / n - new_mu * new_mu, 1e-4))
        done = abs(new_mu - mu) < 1e-5 and abs(new_sigma - sigma) < 1e-5
        mu = new_mu
        sigma = fixed_sigma if fixed_sigma is not None else min(max(new_sigma, 0.05), 3.0)
        if done:
            break
    return mu, sigma


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


# What the fitted shape (a mixture of two lognormals) weighs in the nonparametric estimate,
# in observations: SHAPE_WEIGHT, or SHAPE_SHARE of the finished jobs in the window when that
# is more. Little while few have finished (a bulk run's first seconds: the data decide), half
# of a full window's 256 then (the mixture fits the data: what it smooths is the window's
# noise; B2's steady-state mixture 1.15 -> 1.10 x the optimum, the cold rows unchanged
# within their seed-to-seed noise). (Set from B2; see docs/schedule.md.)
SHAPE_WEIGHT = 32.0
SHAPE_SHARE = 0.5
# The shape is a mixture of two lognormals, each anchored by ANCHOR_WEIGHT observations at
# the single lognormal's fit (``_survival.fit_mixture``); False: the single lognormal.
MIXTURE = True
ANCHOR_WEIGHT = 1.0
# What a trained kind-wide model weighs in its classes' lognormal fit, in observations.
PARENT_WEIGHT = 4.0
# The narrowest spread a class without finishes takes from its kind (log scale): a kind of
# near-identical jobs would otherwise put a class it has never seen in a spike just past its
# running jobs (B2's two classes: the same figures at 0 and at 0.3; 0.5 was worse).
SIGMA_FLOOR = 0.3


def _upper(bin_index: int) -> float:
    return EDGES[bin_index + 1] if bin_index + 1 < len(EDGES) else math.inf


class DurationModel:
    """The durations of one job class, learned online from interval-censored observations.

    The estimate is ``_survival``'s nonparametric one over the ``window`` most recent
    finished jobs, the class's jobs still running (handed in by ``refit(running=...)``:
    they are what a bulk run's first seconds are made of) and a prior worth
    ``prior_weight`` observations: a lognormal (``prior_median_s``, ``prior_sigma``), or
    ``parent``'s estimate once the parent (the kind-wide model) is trained, so a small class
    borrows strength from its kind. It refits after every ``refit_every`` new finishes
    (sooner while few are known); the DP schedule is recomputed lazily, once per refit that
    moved the estimate.
    """

    __slots__ = (
        "_cumulative",
        "_fresh",
        "_intervals",
        "_mixture",
        "_prior_ln",
        "_running",
        "_schedule",
        "lag_weight",
        "max_interval_s",
        "min_interval_s",
        "min_observations",
        "mu",
        "observed",
        "p",
        "parent",
        "prior",
        "prior_weight",
        "refit_every",
        "refits",
        "sigma",
    )

    def __init__(
        self,
        *,
        prior_median_s: float = 6.0,
        prior_sigma: float = 0.8,
        prior_weight: float = 1.0,
        window: int = 256,
        refit_every: int = 32,
        min_observations: int = 8,
        lag_weight: float = 2.0,
        min_interval_s: float = 0.1,
        max_interval_s: float = 30.0,
        parent: DurationModel | None = None,
    ) -> None:
        self.prior = lognormal_prior(prior_median_s, prior_sigma)
        self.mu, self.sigma = math.log(prior_median_s), prior_sigma  # the lognormal fit
        self._prior_ln = (self.mu, self.sigma)
        self.prior_weight = prior_weight
        self.parent = parent
        self.p = list(self.prior)
        self._cumulative = cumulative_of(self.p)
        self._intervals: deque[tuple[int, int]] = deque(maxlen=window)
        self._mixture: list[Component] | None = None
        self._running: dict[int, float] = {}
        self.refit_every = refit_every
        self.min_observations = min_observations
        self.lag_weight = lag_weight
        self.min_interval_s = min_interval_s
        self.max_interval_s = max_interval_s
        self.observed = 0
        self.refits = 0
        self._fresh = 0
        self._schedule: dict[float, Schedule] = {}  # by lag weight

    @property
    def trained(self) -> bool:
        return self.observed >= self.min_observations

    @property
    def median_s(self) -> float:
        return self.quantile(0.5)

    def quantile(self, q: float) -> float:
        k = bisect.bisect_left(self._cumulative, q)
        return EDGES[min(max(k - 1, 0), len(EDGES) - 1)] if k < len(self._cumulative) else EDGES[-1]

    def observe(self, lo_s: float, hi_s: float = math.inf) -> bool:
        """The job ended after ``lo_s`` and no later than ``hi_s`` (inf: still running when
        it was given up). True when this refit the model and moved it."""
        if hi_s < lo_s:
            lo_s, hi_s = hi_s, lo_s
        self._intervals.append(finished_bins(max(lo_s, 0.0), hi_s))
        if hi_s < math.inf:
            self.observed += 1
            if self.parent is not None:
                self.parent.observe(lo_s, hi_s)
        self._fresh += 1
        # Refit often while little is known (after 1, 2, 4, 8, ... finishes), then in steps.
        early = self.observed & (self.observed - 1) == 0 and self.observed <= self.refit_every
        if self._fresh >= self.refit_every or early:
            return self.refit()
        return False

    def refit(self, running: dict[int, float] | None = None) -> bool:
        """Refit; ``running``: censored counts by bin of the class's jobs still running
        (replaces the last ones given). True when the estimate moved materially (its CDF by
        more than 0.02 anywhere)."""
        if running is not None:
            self._running = running
        self._fresh = 0
        self.refits += 1
        finished: dict[tuple[int, int], float] = {}
        for key in self._intervals:
            finished[key] = finished.get(key, 0.0) + 1.0
        # The shape beyond what the checks have seen comes from a fit to the same
        # observations (censored ones included): the Turnbull estimate says nothing there,
        # and a fixed prior's tail would tell jobs still running at 14 s that they all end
        # by 16 s. A lognormal, whose own prior is the kind-wide fit once trained
        # (shrinkage), anchors a mixture of two (MIXTURE), which is the shape.
        parent = self.parent
        prior_mu, prior_sigma = self._prior_ln
        prior_weight = self.prior_weight
        fixed_sigma = None
        if parent is not None and parent.trained:
            # Shrinkage: the kind-wide fit counts as PARENT_WEIGHT observations. At one, a
            # class with no finish yet was fitted from its running jobs alone: a narrow
            # lognormal just past them (sigma 0.42 where 0.61 with four), whose plan left a
            # gap before its first ends (B2's 30 s class: first checks at 25 s, not 15-16 s;
            # 1.41 -> 1.20 x the optimum, seed 3).
            prior_mu, prior_sigma = parent.mu, parent.sigma
            prior_weight = max(prior_weight, PARENT_WEIGHT)
            if self.observed == 0:
                # Jobs that have not finished say that they run longer than their ages,
                # not how widely they spread: until one finishes, the class takes its kind's
                # spread and fits its scale alone. Fitted both ways, B2's 30 s class, 12 probes
                # still running at 16 s against a kind of 3 s jobs, looked heavy-tailed
                # (median 51 s, 10 % by 18.7 s): its first checks came at 22 s, where the
                # optimum's are at 18-20 s (two classes 1.27 -> 1.15 x the optimum, seed 3).
                fixed_sigma = max(parent.sigma, SIGMA_FLOOR)
        intervals = [(EDGES[lo], _upper(hi)) for lo, hi in finished]
        intervals += [(EDGES[lo], math.inf) for lo in self._running]
        weights = [*finished.values(), *self._running.values()]
        self.mu, self.sigma = fit_lognormal(
            intervals,
            prior_mu,
            prior_sigma,
            prior_weight,
            start=(self.mu, self.sigma),
            weights=weights,
            fixed_sigma=fixed_sigma,
        )
        if MIXTURE:
            # The shape: two lognormals, fitted to the same observations (a single one's
            # tail is too thin beyond the oldest running jobs of a mixture: B2's long part
            # was checked every 3 s where the optimum waits 10).
            mu, sigma = self.mu, self.sigma
            start = self._mixture or [
                (0.5, mu - 0.7 * sigma, 0.7 * sigma),
                (0.5, mu + 0.7 * sigma, 0.7 * sigma),
            ]
            self._mixture = fit_mixture(finished, self._running, start, (mu, sigma), ANCHOR_WEIGHT)
            prior = mixture_prior(self._mixture)
        else:
            prior = lognormal_prior(math.exp(self.mu), self.sigma)
        shape = max(SHAPE_WEIGHT, SHAPE_SHARE * len(self._intervals))
        p = fit_turnbull(finished, self._running, prior, shape)
        cumulative = cumulative_of(p)
        moved = max(abs(a - b) for a, b in zip(cumulative, self._cumulative, strict=True)) > 0.02
        self.p = p
        self._cumulative = cumulative
        if moved:
            self._schedule = {}
        return moved

    def cdf(self, t_s: float) -> float:
        return cdf_at(self._cumulative, t_s)

    def chance_done(self, last_s: float, now_s: float) -> float:
        """P(done by ``now_s`` | still running at ``last_s``)."""
        before = self.cdf(last_s)
        survive = 1.0 - before
        if survive <= 1e-12:
            return 1.0
        return max(0.0, (self.cdf(now_s) - before) / survive)

    def next_age(self, age_s: float, lag_weight: float | None = None) -> float:
        """Age of the next check after one at ``age_s`` (``lag_weight``: override the knob)."""
        return self.schedule(lag_weight).next_age(age_s)

    def schedule(self, lag_weight: float | None = None) -> Schedule:
        weight = self.lag_weight if lag_weight is None else lag_weight
        schedule = self._schedule.get(weight)
        if schedule is None:
            schedule = self._schedule[weight] = survival_schedule(
                self.p,
                weight,
                min_interval_s=self.min_interval_s,
                max_interval_s=self.max_interval_s,
            )
        return schedule
