"""Job-duration distributions for B2: sampling, CDF and partial expectation (numpy)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
_erfc = np.frompyfunc(math.erfc, 1, 1)


def _phi_cdf(z: Array) -> Array:
    return np.asarray(0.5 * _erfc(-z / math.sqrt(2.0)), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class LogNormal:
    median_s: float
    sigma: float

    @property
    def mu(self) -> float:
        return math.log(self.median_s)

    def cdf(self, t: Array) -> Array:
        safe = np.maximum(t, 1e-300)
        return np.where(t > 0, _phi_cdf((np.log(safe) - self.mu) / self.sigma), 0.0)

    def partial_mean(self, t: Array) -> Array:
        """E[D; D <= t]."""
        safe = np.maximum(t, 1e-300)
        mean = math.exp(self.mu + 0.5 * self.sigma**2)
        z = (np.log(safe) - self.mu - self.sigma**2) / self.sigma
        return np.where(t > 0, mean * _phi_cdf(z), 0.0)

    def sample(self, rng: np.random.Generator, n: int) -> Array:
        return self.median_s * np.exp(self.sigma * rng.standard_normal(n))


@dataclass(frozen=True, slots=True)
class Mixture:
    """A mixture of lognormals: ``parts`` of (weight, LogNormal), weights summing to 1."""

    parts: Sequence[tuple[float, LogNormal]]

    def cdf(self, t: Array) -> Array:
        return np.asarray(sum(w * d.cdf(t) for w, d in self.parts), dtype=np.float64)

    def partial_mean(self, t: Array) -> Array:
        return np.asarray(sum(w * d.partial_mean(t) for w, d in self.parts), dtype=np.float64)

    def sample(self, rng: np.random.Generator, n: int) -> Array:
        weights = np.array([w for w, _ in self.parts])
        which = rng.choice(len(self.parts), size=n, p=weights / weights.sum())
        out = np.empty(n)
        for k, (_, d) in enumerate(self.parts):
            mask = which == k
            out[mask] = d.sample(rng, int(mask.sum()))
        return out


Distribution = LogNormal | Mixture


def quantile(dist: Distribution, q: float) -> float:
    lo, hi = 1e-6, 1.0
    while float(dist.cdf(np.array([hi]))[0]) < q:
        hi *= 2.0
    for _ in range(80):
        mid = math.sqrt(lo * hi)
        if float(dist.cdf(np.array([mid]))[0]) < q:
            lo = mid
        else:
            hi = mid
    return hi
