"""A duration distribution that fits what the checks show, and the check ages it implies.

One lognormal per class misses what mixed workloads look like (short and long prompts in one
run: B2's mixture was at 1.26 × the optimum's checks). So a class's durations are a discrete
distribution over one fixed log-spaced grid of ages (``EDGES``: 0.05 s to about 9 days,
each bin 8 % wider than the last), estimated nonparametrically from what checks observe:

* a job seen running at ``lo`` and done at ``hi``: it ended in ``(lo, hi]``;
* a job still running, last seen at ``lo``: it ends in ``(lo, inf)`` (right-censored). While
  a bulk run starts, nearly every job is censored, and leaving them out biases the fit to the
  few that ended first (20-second jobs were checked 9.9 times for 0.94 s of lag).

The estimate is Turnbull's self-consistency EM for interval-censored data, plus a prior worth
``prior_weight`` observations (a lognormal, the kind-wide estimate, or a user's hint):

    p_j <- (w0·q_j + p_j · Σ_i w_i·[j in I_i] / P(I_i)) / (w0 + Σ_i w_i)

Each step is O(bins + distinct intervals): the inner sum is a difference array over bins and
P(I_i) a prefix sum. Its fixed points are the maximum of the (prior-penalised) likelihood.
Within an interval the likelihood cannot tell where the mass lies, so EM keeps the shape it
starts from there: it starts from the prior (never from the last estimate, whose shape is an
accident of the order things were seen), and the model makes that prior a lognormal fitted to
the same observations, so what lies beyond the oldest job still running is extrapolated
smoothly, not piled up at one age. That fit is a mixture of two lognormals (``fit_mixture``,
EM on the same binned observations): one lognormal fitted to a mixture has too thin a tail
beyond the short part, and told B2's long jobs, all still running, that they were about to
end (checked every 3 s where the optimum waits 10).

``optimal_schedule`` is the same backward induction as for the lognormal (``_learn``), over
the grid's edges: with F the mass below an edge and PE its partial mean (each bin's mass at
its midpoint), moving from a check at ``e_i`` to one at ``e_j`` costs, scaled by S(e_i),
``S(e_i) + λ·(e_j·(F_j - F_i) - (PE_j - PE_i)) + W_j``. Only steps of at most
``max_interval_s`` are considered (the policy caps them there anyway), so it is
O(bins × bins-per-max-interval), a few milliseconds. Everything here is pure.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate, pairwise

__all__ = [
    "BINS",
    "EDGES",
    "EDGE_BOUNDS",
    "MIDS",
    "RATIO",
    "Schedule",
    "bin_of",
    "cdf_at",
    "edge_of",
    "finished_bins",
    "fit_mixture",
    "fit_turnbull",
    "lognormal_prior",
    "mixture_prior",
    "optimal_schedule",
]

RATIO = 1.08
FIRST_S = 0.05
_BINS = 200
# EDGES[0] = 0; bin j covers (EDGES[j], EDGES[j + 1]]; the last bin is open above.
EDGES: tuple[float, ...] = (0.0, *(FIRST_S * RATIO**k for k in range(_BINS - 1)))
BINS = len(EDGES)
_LOG_RATIO = math.log(RATIO)
# Edge k >= 1 is the nearest (on the log scale) to the ages in [EDGE_BOUNDS[k - 1],
# EDGE_BOUNDS[k]); edge 0 (age 0) to those below EDGE_BOUNDS[0].
EDGE_BOUNDS: tuple[float, ...] = tuple(FIRST_S * RATIO ** (k - 0.5) for k in range(BINS - 1))
_bisect_right = bisect.bisect_right
_MIDS: tuple[float, ...] = tuple(
    (EDGES[j] + EDGES[j + 1]) / 2 if j + 1 < BINS else EDGES[j] * math.sqrt(RATIO)
    for j in range(BINS)
)
MIDS = _MIDS  # the age each bin's mass stands for


@dataclass(frozen=True, slots=True)
class Schedule:
    """Optimal check ages for one distribution: after a check at ``ages[i]`` that saw the
    job running, the next check is at ``ages[following[i]]``."""

    ages: tuple[float, ...]
    following: tuple[int, ...]

    def next_age(self, age_s: float) -> float:
        """Age of the next check, given the last one (or creation) at ``age_s``."""
        ages, following = self.ages, self.following
        i = _bisect_right(ages, age_s + 1e-9) - 1
        j = following[i if i > 0 else 0]
        nxt = ages[j]
        if nxt - age_s < 0.03 * age_s and j < len(ages) - 1:
            # The check came a hair before a planned age (jitter, an early wake-up): it was
            # that planned check, so the next one is the plan's step after it.
            nxt = ages[following[j]]
        if nxt <= age_s:  # past the grid: keep the last step's proportion
            last = self.ages[-1]
            prev = self.ages[self.following[-2]] if len(self.ages) > 1 else last
            return age_s * max(1.05, last / max(prev, 1e-9))
        return nxt


def bin_of(t_s: float) -> int:
    """The bin holding age ``t_s`` (bin j covers ``(EDGES[j], EDGES[j + 1]]``)."""
    if t_s <= FIRST_S:
        return 0
    if t_s == math.inf:
        return BINS - 1
    k = 1 + math.ceil(math.log(t_s / FIRST_S) / _LOG_RATIO - 1e-9)
    return min(max(k - 1, 0), BINS - 1)


def edge_of(t_s: float) -> int:
    """The index of the edge nearest to age ``t_s`` (on the log scale). Observations are
    placed on edges: a job seen running at ``lo`` and done at ``hi`` ended in the bins
    ``edge_of(lo) .. edge_of(hi) - 1``, one still running at ``lo`` in ``edge_of(lo) ..``.
    (With the bins that hold the ages instead, a finished and a censored job checked at the
    same age would share a bin, and the estimate would pile mass there.) One bisect over
    the edges' log-midpoints (``EDGE_BOUNDS``): a re-plan asks it for every running job."""
    return _bisect_right(EDGE_BOUNDS, t_s)


def finished_bins(lo_s: float, hi_s: float) -> tuple[int, int]:
    """The bins (inclusive) a job seen running at ``lo_s`` and done at ``hi_s`` ended in."""
    lo = edge_of(lo_s)
    return lo, max(lo, edge_of(hi_s) - 1)


def lognormal_prior(median_s: float, sigma: float) -> list[float]:
    """A lognormal's mass in each bin."""
    mu = math.log(median_s)

    def cdf(t: float) -> float:
        return 0.0 if t <= 0 else 0.5 * math.erfc(-(math.log(t) - mu) / (sigma * math.sqrt(2)))

    mass = [cdf(EDGES[j + 1]) - cdf(EDGES[j]) for j in range(BINS - 1)]
    mass.append(1.0 - cdf(EDGES[-1]))
    total = sum(mass)
    return [m / total for m in mass]


def fit_turnbull(
    finished: Mapping[tuple[int, int], float],
    running: Mapping[int, float],
    prior: Sequence[float],
    prior_weight: float,
    *,
    start: Sequence[float] | None = None,
    iterations: int = 80,
    tolerance: float = 1e-6,
) -> list[float]:
    """Bin masses from weighted observations: ``finished[(lo_bin, hi_bin)]`` ended within
    those bins (inclusive); ``running[lo_bin]`` had not ended by bin ``lo_bin``."""
    intervals: list[tuple[int, int, float]] = [(lo, hi, w) for (lo, hi), w in finished.items()]
    intervals += [(lo, BINS - 1, w) for lo, w in running.items()]
    intervals = [(lo, hi, w) for lo, hi, w in intervals if w > 0]
    total = prior_weight + sum(w for _, _, w in intervals)
    p = list(start if start is not None else prior)
    if not intervals or total <= 0:
        return list(prior)
    for _ in range(iterations):
        prefix = [0.0] * (BINS + 1)
        acc = 0.0
        for j, x in enumerate(p):
            acc += x
            prefix[j + 1] = acc
        diff = [0.0] * (BINS + 1)
        for lo, hi, w in intervals:
            mass = prefix[hi + 1] - prefix[lo]
            if mass <= 1e-300:
                # Nothing left there (a start that ruled it out): the prior's shape decides.
                mass = 1e-300
            c = w / mass
            diff[lo] += c
            diff[hi + 1] -= c
        run = 0.0
        new = [0.0] * BINS
        change = 0.0
        for j in range(BINS):
            run += diff[j]
            x = (prior_weight * prior[j] + p[j] * run) / total
            change = max(change, abs(x - p[j]))
            new[j] = x
        p = new
        if change < tolerance:
            break
    norm = sum(p)
    return [x / norm for x in p]


def cdf_at(cumulative: Sequence[float], t_s: float) -> float:
    """P(D <= t_s) from ``cumulative[k]`` = mass below ``EDGES[k]``, linear within a bin."""
    if t_s <= 0:
        return 0.0
    k = bisect.bisect_right(EDGES, t_s) - 1
    if k >= BINS - 1:
        return cumulative[-1]
    lo, hi = EDGES[k], EDGES[k + 1]
    w = (t_s - lo) / (hi - lo)
    return cumulative[k] + w * (cumulative[k + 1] - cumulative[k])


def cumulative_of(p: Iterable[float]) -> list[float]:
    """Mass below each edge: ``[0, p0, p0 + p1, ...]`` (BINS + 1 values)."""
    out = [0.0]
    for x in p:
        out.append(out[-1] + x)
    return out


def optimal_schedule(
    p: Sequence[float],
    lag_weight: float,
    *,
    min_interval_s: float = 0.1,
    max_interval_s: float = 30.0,
    tail: float = 1e-5,
) -> Schedule:
    """Check ages minimising E[checks] + lag_weight × E[lag] for bin masses ``p``."""
    F = cumulative_of(p)
    PE = [0.0]
    for j, x in enumerate(p):
        PE.append(PE[-1] + x * _MIDS[j])
    # The grid of candidate ages: the edges up to where (almost) nothing is left.
    top = next((k for k in range(1, BINS) if 1.0 - F[k] < tail), BINS - 1)
    n = top + 1
    grid = EDGES[:n]
    W = [0.0] * n
    following = [n - 1] * n
    W[-1] = 1.0 - F[n - 1]
    for i in range(n - 2, -1, -1):
        g_i, f_i, pe_i = grid[i], F[i], PE[i]
        s_i = 1.0 - f_i
        best, best_j = math.inf, n - 1
        for j in range(i + 1, n):
            step = grid[j] - g_i
            if step < min_interval_s and j < n - 1:
                continue
            cost = s_i + lag_weight * (grid[j] * (F[j] - f_i) - (PE[j] - pe_i)) + W[j]
            if cost < best:
                best, best_j = cost, j
            if step > max_interval_s:
                break
        W[i], following[i] = best, best_j
    return Schedule(tuple(grid), tuple(following))


# The log-age each bin stands for (its mass's midpoint), for the mixture's moments.
_LOG_MIDS: tuple[float, ...] = tuple(math.log(m) for m in _MIDS)
Component = tuple[float, float, float]  # weight, mu, sigma (of the log-duration)
MIN_SIGMA = 0.1  # a component narrower than about one bin would be a spike on the grid


_LOG_EDGES: tuple[float, ...] = tuple(math.log(e) for e in EDGES[1:])


def _masses(mu: float, sigma: float) -> list[float]:
    """A lognormal's mass in each bin (``lognormal_prior`` without the normalisation)."""
    scale = 1.0 / (sigma * math.sqrt(2.0))
    erfc = math.erfc
    cdf = [0.0, *(0.5 * erfc((mu - le) * scale) for le in _LOG_EDGES), 1.0]
    return [b - a for a, b in pairwise(cdf)]


def fit_mixture(
    finished: Mapping[tuple[int, int], float],
    running: Mapping[int, float],
    start: Sequence[Component],
    anchor: tuple[float, float],
    anchor_weight: float,
    *,
    iterations: int = 30,
    tolerance: float = 1e-3,
) -> list[Component]:
    """A mixture of lognormals fitted by EM to the binned, censored observations (the same
    ones as ``fit_turnbull``). Each component's log-moments within an interval are read off
    its bin masses by prefix sums, so a step is O(components × (bins + intervals)). Each
    component is also given ``anchor_weight`` observations spread as N(anchor) (a single
    lognormal's fit): a component the data cannot place (jobs all still running at the same
    age) stays near it instead of running off to infinity."""
    intervals = [(lo, hi, w) for (lo, hi), w in finished.items() if w > 0]
    intervals += [(lo, BINS - 1, w) for lo, w in running.items() if w > 0]
    comps = list(start)
    a_mu, a_sigma = anchor
    a_second = a_sigma * a_sigma + a_mu * a_mu
    for _ in range(iterations):
        tables = []
        for _, mu, sigma in comps:
            q = _masses(mu, sigma)
            q1 = [x * lm for x, lm in zip(q, _LOG_MIDS, strict=True)]
            q2 = [x * lm for x, lm in zip(q1, _LOG_MIDS, strict=True)]
            tables.append(([0.0, *accumulate(q)], [0.0, *accumulate(q1)], [0.0, *accumulate(q2)]))
        sums = [[anchor_weight, anchor_weight * a_mu, anchor_weight * a_second] for _ in comps]
        for lo, hi, w in intervals:
            probs = [
                pi * (t[0][hi + 1] - t[0][lo]) for (pi, _, _), t in zip(comps, tables, strict=True)
            ]
            total = sum(probs)
            if total <= 1e-300:
                continue
            for k, (c0, c1, c2) in enumerate(tables):
                mass = c0[hi + 1] - c0[lo]
                if mass <= 1e-300:
                    continue
                r = w * probs[k] / total
                s = sums[k]
                s[0] += r
                s[1] += r * (c1[hi + 1] - c1[lo]) / mass
                s[2] += r * (c2[hi + 1] - c2[lo]) / mass
        norm = sum(s[0] for s in sums)
        new = []
        for n, m1, m2 in sums:
            mu = m1 / n
            sigma = math.sqrt(max(m2 / n - mu * mu, 0.0))
            new.append((n / norm, mu, min(max(sigma, MIN_SIGMA), 3.0)))
        change = max(
            max(abs(a[0] - b[0]), abs(a[1] - b[1]), abs(a[2] - b[2]))
            for a, b in zip(comps, new, strict=True)
        )
        comps = new
        if change < tolerance:
            break
    return comps


def mixture_prior(components: Sequence[Component]) -> list[float]:
    """A mixture's mass in each bin."""
    p = [0.0] * BINS
    for pi, mu, sigma in components:
        for j, x in enumerate(_masses(mu, sigma)):
            p[j] += pi * x
    total = sum(p)
    return [x / total for x in p]
