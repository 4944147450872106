"""The optimal check schedule for a known duration distribution (DESIGN.md §5).

Dynamic programming over a discretized grid of check times: minimise
E[checks] + λ·E[lag], lag = time from the job's end to the first check after it. With
S = 1 - F and G(t) = E[D; D <= t], the cost of the next check at t_k after one at t_j,
scaled by the chance S(t_j) that the job still runs at t_j, is

    S(t_j) + λ·(t_k·(F(t_k) - F(t_j)) - (G(t_k) - G(t_j))) + W(t_k),

and W(t_j) is the minimum over k > j (backward induction, O(grid²) with numpy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._durations import Array, Distribution, quantile


@dataclass(frozen=True, slots=True)
class Grid:
    t: Array  # t[0] = 0 (creation), then candidate check times
    F: Array
    G: Array

    @classmethod
    def for_distribution(cls, dist: Distribution) -> Grid:
        """Fine uniform steps up to the 90th percentile, then 0.5 % geometric steps."""
        q50, q90, top = quantile(dist, 0.5), quantile(dist, 0.9), quantile(dist, 1 - 1e-7)
        step = q50 / 100.0
        uniform = np.arange(0.0, q90, step)
        n_geo = max(2, math.ceil(math.log(top / q90) / math.log(1.005)))
        t = np.concatenate([uniform, np.geomspace(q90, top, n_geo)])
        return cls(t, dist.cdf(t), dist.partial_mean(t))


@dataclass(frozen=True, slots=True)
class Plan:
    lam: float
    times: Array  # check times after creation
    checks: float  # E[checks], exact for the grid
    lag: float  # E[lag]


def optimal(grid: Grid, lam: float) -> Plan:
    t, F, G = grid.t, grid.F, grid.G
    S = 1.0 - F
    m = len(t)
    W = np.zeros(m)
    nxt = np.full(m, m - 1)
    W[-1] = S[-1]  # beyond the grid (S < 1e-7): one more check closes it
    for j in range(m - 2, -1, -1):
        tk, Fk, Gk = t[j + 1 :], F[j + 1 :], G[j + 1 :]
        cost = S[j] + lam * (tk * (Fk - F[j]) - (Gk - G[j])) + W[j + 1 :]
        a = int(np.argmin(cost))
        W[j], nxt[j] = cost[a], j + 1 + a
    path = []
    j = 0
    while j < m - 1:
        j = int(nxt[j])
        path.append(j)
    idx = np.array(path)
    checks, lag = expectations(grid, idx)
    return Plan(lam, t[idx], checks, lag)


def expectations(grid: Grid, idx: Array) -> tuple[float, float]:
    """E[checks] and E[lag] of checks at grid points ``idx`` (ascending)."""
    prev = np.concatenate([[0], idx[:-1]]).astype(int)
    idx = idx.astype(int)
    S = 1.0 - grid.F
    checks = float(S[prev].sum())
    lag = float((grid.t[idx] * (grid.F[idx] - grid.F[prev]) - (grid.G[idx] - grid.G[prev])).sum())
    return checks, lag


def at_lag(grid: Grid, target_lag: float, iterations: int = 14) -> Plan:
    """The cheapest optimum whose E[lag] is at most ``target_lag``: bisection on log λ."""
    lo, hi = math.log(1e-3), math.log(1e4)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        if optimal(grid, math.exp(mid)).lag > target_lag:
            lo = mid  # lag too large: weigh it more
        else:
            hi = mid
    return optimal(grid, math.exp(hi))
