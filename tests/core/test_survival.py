"""The nonparametric duration estimate and its DP schedule (``_survival``), in plain numbers."""

from __future__ import annotations

import math
import random

import pytest

from batchpoll._learn import DurationModel, optimal_schedule
from batchpoll._survival import (
    EDGES,
    cumulative_of,
    edge_of,
    finished_bins,
    fit_turnbull,
    lognormal_prior,
)
from batchpoll._survival import optimal_schedule as survival_schedule


def test_edges_and_bins() -> None:
    assert EDGES[0] == 0.0
    assert edge_of(0.0) == 0
    k = edge_of(14.0)
    assert EDGES[k] == pytest.approx(14.0, rel=0.05)
    # Two checks at the same age: the finished job's bins end where the censored one's begin.
    lo, hi = finished_bins(0.0, 14.0)
    assert (lo, hi) == (0, k - 1)
    assert finished_bins(3.0, 3.01) == (edge_of(3.0), edge_of(3.0))


def test_turnbull_recovers_the_share_done_by_a_common_check() -> None:
    # 400 jobs all checked at 14 s: 80 done, 320 still running. The estimate's F(14 s) is
    # the share seen done, whatever the prior's shape (which decides only within intervals).
    k = edge_of(14.0)
    for prior in (lognormal_prior(20.0, 0.5), lognormal_prior(2.0, 0.5)):
        p = fit_turnbull({finished_bins(0.0, 14.0): 80.0}, {k: 320.0}, prior, 1.0)
        assert sum(p) == pytest.approx(1.0)
        assert cumulative_of(p)[k] == pytest.approx(80 / 401, abs=0.01)


def test_turnbull_without_observations_is_the_prior() -> None:
    prior = lognormal_prior(6.0, 0.8)
    assert fit_turnbull({}, {}, prior, 3.0) == prior


def test_dp_on_a_discretised_lognormal_matches_the_closed_form_plan() -> None:
    p = lognormal_prior(8.0, 0.6)
    grid = survival_schedule(p, 2.0, min_interval_s=0.1, max_interval_s=60.0)
    exact = optimal_schedule(math.log(8.0), 0.6, 2.0, min_interval_s=0.1)
    a = b = 0.0
    for _ in range(4):
        a, b = grid.next_age(a), exact.next_age(b)
        assert a == pytest.approx(b, rel=0.12)  # the grid's bins are 8 % wide


def test_a_mixture_is_fitted_where_one_lognormal_is_not() -> None:
    # 80 % around 5 s, 20 % around 60 s, seen through checks every 10 %: the estimate keeps
    # the gap between the two (a lognormal fit puts a quarter of the mass there).
    rng = random.Random(4)
    model = DurationModel(window=2000, refit_every=10_000)
    for _ in range(1500):
        d = (
            5 * math.exp(0.3 * rng.gauss(0, 1))
            if rng.random() < 0.8
            else 60 * math.exp(0.3 * rng.gauss(0, 1))
        )
        lo = 1.1 ** math.floor(math.log(d) / math.log(1.1))
        model.observe(lo, lo * 1.1)
    model.refit()
    gap = model.cdf(35.0) - model.cdf(12.0)
    assert gap < 0.05
    assert model.cdf(12.0) == pytest.approx(0.8, abs=0.04)
    # The schedule does not spend checks in the gap: one check covers 12 to 35 s.
    age = model.next_age(12.0)
    assert age >= 20.0


def test_running_jobs_move_the_estimate_out() -> None:
    # 30 jobs ended by 2 s; 370 are still running at 10 s. Without them the model would think
    # everything ends within a few seconds.
    model = DurationModel()
    for _ in range(30):
        model.observe(1.0, 2.0)
    short = model.median_s
    moved = model.refit(running={edge_of(10.0): 370.0})
    assert moved
    assert short < 3.0 < 10.0 <= model.median_s


def test_a_mixture_fit_finds_both_parts_and_a_heavier_tail_than_one_lognormal() -> None:
    # 80 % around 5 s and 20 % around 60 s, the long ones partly still running at 40 s.
    from batchpoll._learn import fit_lognormal
    from batchpoll._survival import fit_mixture, mixture_prior

    rng = random.Random(2)
    finished: dict[tuple[int, int], float] = {}
    running: dict[int, float] = {}
    intervals = []
    for _ in range(400):
        d = (
            rng.lognormvariate(math.log(5.0), 0.5)
            if rng.random() < 0.8
            else rng.lognormvariate(math.log(60.0), 1.0)
        )
        if d > 40.0:
            running[edge_of(40.0)] = running.get(edge_of(40.0), 0.0) + 1.0
            intervals.append((40.0, math.inf))
            continue
        key = finished_bins(d * 0.9, d * 1.1)
        finished[key] = finished.get(key, 0.0) + 1.0
        intervals.append((d * 0.9, d * 1.1))
    mu, sigma = fit_lognormal(intervals, math.log(6.0), 0.8, 1.0)
    start = [(0.5, mu - 0.7 * sigma, 0.7 * sigma), (0.5, mu + 0.7 * sigma, 0.7 * sigma)]
    comps = sorted(fit_mixture(finished, running, start, (mu, sigma), 1.0), key=lambda c: c[1])
    (w1, mu1, _), (w2, mu2, _) = comps
    assert 0.7 < w1 < 0.9
    assert 0.1 < w2 < 0.3
    assert abs(math.exp(mu1) - 5.0) < 1.0
    assert math.exp(mu2) > 30.0
    # Beyond 40 s the mixture keeps the long part's slow hazard; one lognormal does not.
    mix = cumulative_of(mixture_prior(comps))
    one = cumulative_of(lognormal_prior(math.exp(mu), sigma))
    k40, k60 = edge_of(40.0), edge_of(60.0)
    assert (mix[k60] - mix[k40]) / (1 - mix[k40]) < 0.5 * (one[k60] - one[k40]) / (1 - one[k40])
